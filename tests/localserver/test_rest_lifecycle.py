"""The REST clients' session lifecycle end to end against the project's own local server
(issue 17: this used to run against ``FakeApi``, a hand-written stand-in in
``tests/transports/test_http_adapters.py``): log in, create a group dialog, the server expires
the session, the next call renews it once and is replayed, history, a 404 -- on the
blocking client and the async one on asyncio and trio, with the server's store checked
for what the calls did.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from cubeproto.transports.http_anyio import AsyncRestClient
from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser, RunningServer

from cubeproto import rest

NewUser = Callable[..., CubeUser]


def expire(server: RunningServer, token: str | None) -> None:
    assert token is not None
    server.call(server.server.store.expire_session, token)


def test_blocking_rest_client_lifecycle(cube_server: RunningServer, cube_user: NewUser) -> None:
    alice, bob = cube_user(), cube_user()
    url = alice.api_url
    with BlockingRestClient.connect(alice.credentials, base_url=url) as client:
        dialog = client.call(
            rest.create_dialog(
                type=rest.DialogType.GROUP, name="G", occupants_ids=[bob.id], base_url=url
            )
        )
        assert set(dialog.occupants_ids) == {alice.id, bob.id} and dialog.name == "G"
        first = client.session.chat_password()
        assert first == client.session.token
        expire(cube_server, first)  # the server forgets the session: the next call renews
        sent = client.call(
            rest.create_message(chat_dialog_id=dialog.id, message="hi", base_url=url)
        )
        second = client.session.chat_password()
        assert second != first
        history = client.call(rest.list_messages(dialog.id, sort_desc="date_sent", base_url=url))
        assert [(m.id, m.message) for m in history.items] == [(sent.id, "hi")]
        assert client.session.chat_password() == second  # renewed once, not again
        with pytest.raises(rest.ApiError) as info:
            client.call(rest.get_blob(999_999, base_url=url))
        assert info.value.status == 404
    # on the server: the expired session is gone, the renewed one is live
    live = cube_server.call(cube_server.server.store.live_tokens, alice.id, 1.0)
    assert first not in live and second in live


@pytest.mark.parametrize("flavor", ["asyncio", "trio"])
def test_async_rest_client_lifecycle(
    flavor: str, cube_server: RunningServer, cube_user: NewUser
) -> None:
    alice, bob = cube_user(), cube_user()
    url = alice.api_url
    tokens: list[str | None] = []

    async def scenario() -> None:
        async with AsyncRestClient.connect(alice.credentials, base_url=url) as client:
            dialog = await client.call(
                rest.create_dialog(type=2, name="G", occupants_ids=[bob.id], base_url=url)
            )
            tokens.append(client.session.token)
            expire(cube_server, client.session.token)
            history = await client.call(rest.list_messages(dialog.id, base_url=url))
            assert history.items == ()
            tokens.append(client.session.token)
            again = await client.call(rest.list_messages(dialog.id, base_url=url))
            assert again.items == ()
            tokens.append(client.session.token)

    anyio.run(scenario, backend=flavor)
    assert tokens[0] is not None and tokens[1] not in (None, tokens[0])
    assert tokens[2] == tokens[1]
