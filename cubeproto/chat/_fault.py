"""The internal signal of a stanza-level fault in peer input.

Parsers deep inside the chat layer raise :class:`StanzaFault`; the session catches it at
its single entry point and turns it into a :class:`~cubeproto.events.MalformedStanza`
carrying the raw bytes.  It never leaves :mod:`cubeproto.chat`.
"""

from __future__ import annotations


class StanzaFault(Exception):
    """The stanza being classified is malformed; the message says why."""
