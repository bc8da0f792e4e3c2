"""The local server's REST answers, as the official SDK resolves them, against the SDK's own
TypeScript types.

The SDK (6.1.2) signs a user up with every profile field, makes a private and a group
dialog, stores a message with a reaction and one without, uploads a file, and lists and
fetches files with ``storage.list()`` and ``storage.getFile()``.  Each value it resolved is
written into a TypeScript file as an object literal assigned to the type the SDK's ``.d.ts``
declares for it (``Users.User``, ``Dialogs.ListResponse``, ``Messages.ListResponse``,
``Storage.ListResponse``...), and ``tsc --strict --noEmit`` (typescript, a devDependency of
the harness) must accept the file: a missing field, a ``null`` where the type says a string
or an optional value, or a field of the wrong type is a compile error, quoted in the failure.
Object literals also get TypeScript's excess-property check, so a field the type does not
know fails too (except where the type is open, as messages and blobs are).  The type files
are imported by path (``dist/types/types/*.d.ts``); ``--skipLibCheck`` only spares the
SDK's own declarations a check of their imports (``@xmpp/*`` types the SDK does not ship),
not the assignments.

Not checked: ``chat.dialog.getPublicOccupants`` -- the local server wraps each item as
``{"user": {...}}`` (pinned by test_localserver_rest.py) where the SDK's type says a bare
``Users.User``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Local
from .sdkpeer import HARNESS_DIR, SdkError, SdkPeer

TYPES_DIR = HARNESS_DIR / "node_modules" / "connectycube" / "dist" / "types" / "types"
TSC = HARNESS_DIR / "node_modules" / "typescript" / "bin" / "tsc"


def tsc_or_skip() -> Path:
    """The harness's TypeScript compiler (installed by scripts/node-deps.sh)."""
    if not TSC.exists():
        reason = f"no TypeScript compiler at {TSC} (run scripts/node-deps.sh)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return TSC


def type_check(checks: list[tuple[str, str, Any]], where: Path) -> subprocess.CompletedProcess[str]:
    """Compile ``const <name>: <type> = <json>;`` for each check with ``tsc --strict``."""
    modules = {
        "Users": "users",
        "Dialogs": "dialogs",
        "Messages": "messages",
        "Storage": "storage",
        "Auth": "auth",
    }
    lines = [
        f'import type {{ ConnectyCube{ns} as {ns} }} from "{TYPES_DIR / module}";'
        for ns, module in modules.items()
    ]
    for name, type_name, value in checks:
        lines.append(f"export const {name}: {type_name} = {json.dumps(value, indent=1)};")
    source = where / "responses.ts"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return subprocess.run(
        [
            "node",
            str(tsc_or_skip()),
            "--strict",
            "--noEmit",
            "--skipLibCheck",
            "--moduleResolution",
            "node10",
            "--module",
            "commonjs",
            "--target",
            "es2020",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def sign_up(sdk: SdkPeer) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A new user (so that its file list is the test's alone) with every profile field the
    SDK's sign-up takes, signed in on ``sdk``: (sign-up answer, session, profile sent)."""
    login = f"typed-{os.urandom(4).hex()}"
    profile = {
        "full_name": "Typed User",
        "email": f"{login}@example.org",
        "phone": "+380501234567",
        "website": "https://example.org/typed",
        "custom_data": '{"theme": "dark"}',
        "avatar": "https://example.org/a.png",
        "blob_id": 5,
        "external_user_id": 77,
        "external_id": "ext-77",
        "facebook_id": "fb-1",
        "twitter_id": "tw-1",
        "tag_list": ["blue", "green"],
        "timezone": 2,
    }
    signed_up = sdk.call("users.signup", {"login": login, "password": "typed-pass-1", **profile})
    session = sdk.call("createSession", {"login": login, "password": "typed-pass-1"})
    return signed_up, session, profile


def upload(sdk: SdkPeer, name: str, data: bytes) -> dict[str, Any]:
    blob: dict[str, Any] = sdk.request(
        "upload",
        name=name,
        contentType="text/plain",
        base64=base64.b64encode(data).decode(),
        file="buffer",
    )
    return blob


def test_rest_answers_satisfy_the_sdk_types(
    local: Local, local_sdk: Callable[..., SdkPeer], tmp_path: Path
) -> None:
    tsc_or_skip()
    sdk = local_sdk("alice", chat=False)
    bob_id = local.users["bob"].user_id
    signed_up, session, profile = sign_up(sdk)
    private = sdk.call("chat.dialog.create", {"type": 3, "occupants_ids": [bob_id]})
    group = sdk.call("chat.dialog.create", {"type": 2, "name": "Typed", "occupants_ids": [bob_id]})
    plain = sdk.call("chat.message.create", {"chat_dialog_id": group["_id"], "message": "plain"})
    liked = sdk.call("chat.message.create", {"chat_dialog_id": group["_id"], "message": "liked"})
    sdk.call("chat.message.addReaction", liked["_id"], "👍")
    messages = sdk.call("chat.message.list", {"chat_dialog_id": group["_id"], "mark_as_read": 0})
    dialogs = sdk.call("chat.dialog.list", {})
    uploaded = upload(sdk, "typed.txt", b"typed")

    result = type_check(
        [
            ("session", "Auth.Session", session),
            ("signedUp", "Users.UserResponse", signed_up),
            ("privateDialog", "Dialogs.Dialog", private),
            ("groupDialog", "Dialogs.Dialog", group),
            ("dialogs", "Dialogs.ListResponse", dialogs),
            ("created", "Messages.Message", plain),
            ("messages", "Messages.ListResponse", messages),
            ("uploaded", "Storage.Blob", uploaded),
            ("info", "Storage.BlobResponse", sdk.call("storage.getInfo", uploaded["id"])),
        ],
        tmp_path,
    )
    assert result.returncode == 0, f"tsc --strict refused the answers:\n{result.stdout}"

    # The values behind the types: the profile as signed up, null-free optional fields.
    user = signed_up["user"]
    assert session["user_id"] == user["id"]
    assert {k: user[k] for k in profile if k != "tag_list"} == {
        k: v for k, v in profile.items() if k != "tag_list"
    }
    assert user["user_tags"] == ["blue", "green"]
    assert [m["_id"] for m in messages["items"]] == [plain["_id"], liked["_id"]]
    assert "reactions" not in messages["items"][0]
    assert messages["items"][1]["reactions"] == {"own": ["👍"], "total": {"👍": 1}}
    mine = {d["_id"]: d for d in dialogs["items"]}
    assert mine[private["_id"]]["name"] == ""
    assert mine[group["_id"]]["last_message_date_sent"] == liked["date_sent"]
    assert "last_message_date_sent" not in private
    assert "extensions" not in private and "permissions" not in private


def test_storage_list_and_get_file(
    local: Local, local_sdk: Callable[..., SdkPeer], tmp_path: Path
) -> None:
    """``storage.list()`` pages through the caller's own files (``current_page``,
    ``per_page``); ``storage.getFile(uid)`` finds one by uid; both as the SDK types them."""
    tsc_or_skip()
    sdk = local_sdk("alice", chat=False)
    sign_up(sdk)
    uploaded = [upload(sdk, f"file{i}.txt", b"x" * (10 + i)) for i in range(3)]

    listed = sdk.call("storage.list")
    assert (listed["current_page"], listed["per_page"], listed["total_entries"]) == (1, 10, 3)
    assert [b["id"] for b in listed["items"]] == [b["id"] for b in uploaded]
    assert [(b["name"], b["size"]) for b in listed["items"]] == [
        ("file0.txt", 10),
        ("file1.txt", 11),
        ("file2.txt", 12),
    ]
    paged = sdk.call("storage.list", {"current_page": 2, "per_page": 2})
    assert (paged["current_page"], paged["per_page"], paged["total_entries"]) == (2, 2, 3)
    assert [b["id"] for b in paged["items"]] == [uploaded[2]["id"]]

    got = sdk.call("storage.getFile", uploaded[1]["uid"])
    assert {k: got["blob"][k] for k in ("id", "uid", "name", "size", "public")} == {
        "id": uploaded[1]["id"],
        "uid": uploaded[1]["uid"],
        "name": "file1.txt",
        "size": 11,
        "public": True,
    }
    assert "upload_key" not in got["blob"]
    # Another user's file list does not show them; a uid that names nothing is a 404.
    other = local_sdk("bob", chat=False)
    assert uploaded[0]["id"] not in [b["id"] for b in other.call("storage.list")["items"]]
    with pytest.raises(SdkError) as missing:
        sdk.call("storage.getFile", "ab" * 17)
    assert "404" in str(missing.value)

    result = type_check(
        [
            ("listed", "Storage.ListResponse", listed),
            ("paged", "Storage.ListResponse", paged),
            ("file", "Storage.BlobResponse", got),
        ],
        tmp_path,
    )
    assert result.returncode == 0, f"tsc --strict refused the answers:\n{result.stdout}"
