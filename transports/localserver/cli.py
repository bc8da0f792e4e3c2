"""The ``cubeproto`` console script: ``cubeproto serve`` and ``cubeproto demo``.

``cubeproto --help`` and ``--version`` work with the core alone; ``serve`` and ``demo``
need the ``server`` extra and say so (exit status 2) when it is missing, instead of a
traceback.  The server's modules are therefore imported inside the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from cubeproto import __version__

from . import MissingExtraError, require_server_extra

__all__ = ["main"]


async def _serve(args: argparse.Namespace) -> None:
    import anyio

    from .server import LocalServer

    async with LocalServer(
        database=args.database,
        host=args.host,
        domain=args.domain,
        xmpp_port=args.xmpp_port,
        tls_port=args.tls_port,
        ws_port=args.ws_port,
        http_port=args.http_port,
        tls=not args.no_tls,
        blob_dir=args.blob_dir,
    ) as server:
        app = server.store.app(args.app_id) or server.add_app(args.app_id, args.auth_key)
        for spec in args.user:
            login, _, password = spec.partition(":")
            if server.store.user_by_login(app.id, login) is None:
                user = server.add_user(app.id, login, password or login)
                print(f"user {login}: id {user.id}")
        info = server.info
        print(f"app id {app.id}, auth key {app.auth_key}")
        print(
            f"XMPP (STARTTLS) {info.host}:{info.xmpp_port}, direct TLS :{info.tls_port}, "
            f"WebSocket ws://{info.host}:{info.ws_port}/ws, REST {info.api_url}"
        )
        print(f"chat domain {info.domain}; CA certificate {info.ca_file}")
        sys.stdout.flush()
        await anyio.sleep_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cubeproto")
    parser.add_argument("--version", action="version", version=f"cubeproto {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the narrated demo against an embedded server")
    serve = sub.add_parser("serve", help="run the local ConnectyCube server")
    serve.add_argument("--database", default=":memory:", help="SQLite file (default: memory)")
    serve.add_argument(
        "--blob-dir", default=None, help="storage blobs (default: next to the database file)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--domain", default="localhost")
    serve.add_argument("--xmpp-port", type=int, default=5222)
    serve.add_argument("--tls-port", type=int, default=5223)
    serve.add_argument("--ws-port", type=int, default=5280)
    serve.add_argument("--http-port", type=int, default=8080)
    serve.add_argument("--no-tls", action="store_true", help="no certificate, no TLS listeners")
    serve.add_argument("--app-id", type=int, default=105)
    serve.add_argument("--auth-key", default="local-auth-key")
    serve.add_argument("--user", action="append", default=[], help="login:password (repeat)")
    args = parser.parse_args(argv)
    try:
        require_server_extra(f"cubeproto {args.command}")
    except MissingExtraError as missing:
        print(f"cubeproto: {missing}", file=sys.stderr)
        return 2
    import anyio

    if args.command == "demo":
        from .demo import run_demo

        return run_demo()
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(_serve, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
