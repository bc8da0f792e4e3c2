"""Run every fuzz target in fuzz/ for a bounded time (used by ``make test``).

Each ``fuzz_*.py`` target is run in its own process with atheris for ``--seconds`` seconds
over its seed corpus.  A crash fails the run and leaves the crashing input in fuzz/crashes/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    targets = sorted(HERE.glob("fuzz_*.py"))
    crashes = HERE / "crashes"
    crashes.mkdir(exist_ok=True)
    failed = []
    for target in targets:
        corpus = HERE / "corpus" / target.stem.removeprefix("fuzz_")
        work = HERE / "corpus-work" / target.stem.removeprefix("fuzz_")
        work.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            str(target),
            f"-max_total_time={args.seconds}",
            f"-artifact_prefix={crashes}/{target.stem}-",
            "-print_final_stats=1",
            str(work),
        ]
        if corpus.is_dir():
            cmd.append(str(corpus))
        print("fuzz:", " ".join(cmd), flush=True)
        rc = subprocess.call(cmd)
        if rc != 0:
            failed.append(target.name)
    if failed:
        print("fuzz targets that crashed:", ", ".join(failed), file=sys.stderr)
        return 1
    print(f"fuzz: {len(targets)} targets ran {args.seconds}s each without a crash")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
