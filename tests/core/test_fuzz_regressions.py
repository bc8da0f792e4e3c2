"""Inputs the fuzzers once crashed on (tests/data/fuzz-regressions/), replayed exactly as
fuzz/fuzz_client.py feeds them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "fuzz"))

CASES = sorted((ROOT / "tests" / "data" / "fuzz-regressions").glob("client-*.bin"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_client_fuzz_regression(path: Path) -> None:
    import fuzz_client

    fuzz_client.test_one_input(path.read_bytes())  # raises on any escaped exception


def test_split_tag_never_raises_where_qname_did() -> None:
    from cubeproto._wire import split_tag

    assert split_tag("queryms}conflict") == ("", "queryms}conflict")
    assert split_tag("{urn:a}b") == ("urn:a", "b")
    assert split_tag("{urn:}x}b") == ("urn:}x", "b")
    assert split_tag("{") == ("", "{")
