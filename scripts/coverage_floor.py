"""Line and branch coverage per package, held to a floor that only rises (issue 17).

    .venv/bin/python scripts/coverage_floor.py            # check .coverage against the floor
    .venv/bin/python scripts/coverage_floor.py --update   # raise the floor to today's values

``make unit`` runs pytest under ``coverage run`` (settings in pyproject.toml's
``[tool.coverage.*]``: branches on), which leaves the data in ``.coverage``; this script
adds it up per package and fails when a package's line or branch percentage is below its floor in
``.coverage-floor``.  ``--update`` writes the measured values rounded down to a whole
percent (property tests draw random examples, so a few branches come and go between runs),
and never lowers a floor: the floor only rises.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / ".coverage-floor"

#: package -> the directory of its files (not recursive: each package is counted apart).
PACKAGES = {
    "cubeproto": ROOT / "cubeproto",
    "cubeproto.chat": ROOT / "cubeproto" / "chat",
    "cubeproto.rest": ROOT / "cubeproto" / "rest",
    "cubeproto.transports": ROOT / "transports",
    "cubeproto.transports.localserver": ROOT / "transports" / "localserver",
}


def measure(data_file: Path) -> dict[str, dict[str, float]]:
    """``{package: {"lines": %, "branches": %}}`` from a coverage data file (through
    coverage's JSON report; files never imported count with nothing covered, as the
    ``source`` setting in pyproject.toml lists them)."""
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(out))
        files = json.loads(out.read_text())["files"]
    totals = {name: [0, 0, 0, 0] for name in PACKAGES}  # statements, run, branches, taken
    for filename, report in files.items():
        directory = (ROOT / filename).resolve().parent
        for name, package_dir in PACKAGES.items():
            if directory == package_dir.resolve():
                summary = report["summary"]
                total = totals[name]
                total[0] += summary["num_statements"]
                total[1] += summary["covered_lines"]
                total[2] += summary.get("num_branches", 0)
                total[3] += summary.get("covered_branches", 0)
    return {
        name: {
            "lines": 100.0 * run / statements if statements else 100.0,
            "branches": 100.0 * taken / branches if branches else 100.0,
        }
        for name, (statements, run, branches, taken) in totals.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-file", type=Path, default=ROOT / ".coverage")
    parser.add_argument("--update", action="store_true", help="raise the floor to today")
    args = parser.parse_args()
    if not args.data_file.exists():
        raise SystemExit(f"{args.data_file} is missing: run coverage run -m pytest first")
    today = measure(args.data_file)
    floor: dict[str, dict[str, float]] = json.loads(FLOOR.read_text()) if FLOOR.exists() else {}
    failures = []
    for name, values in today.items():
        for kind, value in values.items():
            minimum = floor.get(name, {}).get(kind, 0.0)
            mark = "" if value >= minimum else "   <-- below the floor"
            print(f"{name:34} {kind:8} {value:6.2f} %  (floor {minimum:5.1f} %){mark}")
            if mark:
                failures.append(f"{name} {kind} {value:.2f} % < {minimum} %")
    if args.update:
        raised = {
            name: {
                kind: max(floor.get(name, {}).get(kind, 0.0), float(math.floor(value)))
                for kind, value in values.items()
            }
            for name, values in today.items()
        }
        FLOOR.write_text(json.dumps(raised, indent=1, sort_keys=True) + "\n")
        print(f"wrote {FLOOR.name}")
    elif failures:
        print("coverage below the floor:", *failures, sep="\n  ", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
