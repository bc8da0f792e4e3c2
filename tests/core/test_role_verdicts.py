"""Differential property: the client role and the server role give the same verdict
(accept, or which XML-layer stream error condition) for the same top-level element,
whatever the chunking.  The elements come from the ConnectyCube grammar of
fuzz/stanza_grammar.py, mutated; fuzz/fuzz_stanza_grammar.py explores the same property
with coverage guidance."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hostile_cases import CASES as HOSTILE
from hypothesis import example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))

from role_verdicts import verdicts
from stanza_grammar import mutate, stanza


@given(seed=st.integers(min_value=0, max_value=2**32 - 1), chunk=st.sampled_from([3, 64, 1 << 16]))
@example(seed=0, chunk=1 << 16)
@settings(max_examples=150, deadline=None)
def test_client_and_server_agree(seed: int, chunk: int) -> None:
    rng = random.Random(seed)
    wire = b"".join(mutate(rng.randrange, stanza(rng.randrange)) for _ in range(2))
    client, server = verdicts(wire, chunk)
    assert client == server, wire


@pytest.mark.parametrize("name", list(HOSTILE))
def test_the_holes_get_the_same_condition_in_both_roles(name: str) -> None:
    data, condition = HOSTILE[name]
    assert verdicts(data) == (condition.value, condition.value)


def test_the_grammar_reaches_every_verdict() -> None:
    # The property is only as good as its inputs: the grammar's mutations must produce
    # acceptance and each of the XML layer's refusals.
    seen = set()
    for seed in range(400):
        rng = random.Random(seed)
        seen.add(verdicts(mutate(rng.randrange, stanza(rng.randrange)))[0])
    assert seen >= {
        "accept",
        "bad-format",
        "bad-namespace-prefix",
        "not-well-formed",
        "policy-violation",
        "unsupported-encoding",
        "unsupported-stanza-type",
    }, seen


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_a_nonza_of_an_unknown_namespace_is_passed_up_by_both_xml_layers(chunk: int) -> None:
    # Found by fuzz_stanza_grammar in CI: a mutated <r xmlns="urn:xmpp:sm:3"/>.  The server's
    # session layer refuses it (unsupported-stanza-type), the client's hands it over as
    # UnhandledStanza; neither XML layer refuses it, and the verdicts say so.
    wire = b'<presence><a/></presence><r xmlns="urn:xmpp:sm:!3"/><message><body>x</body></message>'
    assert verdicts(wire, chunk) == ("unhandled-nonza", "unhandled-nonza")


def test_a_content_namespace_non_stanza_is_still_an_xml_layer_refusal() -> None:
    assert verdicts(b"<foo/>") == ("unsupported-stanza-type", "unsupported-stanza-type")


def test_the_nonza_test_reads_the_tag_and_never_parses_the_bytes_again() -> None:
    # Found by fuzz_stanza_grammar in CI: an UnhandledStanza's bytes whose namespace name
    # is not a valid URI made lxml refuse them when the harness parsed them again.
    from role_verdicts import _is_nonza

    assert not _is_nonza('<message xmlns="jabber:client\u0746" id="1"/>'.encode())
    assert not _is_nonza(b"<iq type='get'>")
    assert not _is_nonza(b"<presence/>")
    assert _is_nonza(b'<r xmlns="urn:xmpp:sm:!3"/>')
    assert _is_nonza(b"<stream:features>")
