"""A group dialog made through the local server's REST API, for the tests of rooms (a
module of its own, without slixmpp, so that the suites of the Pythons slixmpp does not
support can import it)."""

from __future__ import annotations

from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser

from cubeproto.rest import requests as R


def group_of(rest: BlockingRestClient, owner: CubeUser, *members: CubeUser) -> str:
    """A group dialog (type 2) of ``members``, created by ``owner``; its id."""
    dialog = rest.call(
        R.create_dialog(
            type=2, name="room", occupants_ids=[m.id for m in members], base_url=owner.api_url
        )
    )
    return str(dialog.id)
