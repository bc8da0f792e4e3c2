"""The ``cubeproto`` console script: ``cubeproto serve`` and ``cubeproto demo``.

``cubeproto --help`` and ``--version`` work with the core alone; ``serve`` and ``demo``
need the ``server`` extra and say so (exit status 2) when it is missing, instead of a
traceback.  The server's modules are therefore imported inside the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys

from cubeproto import __version__

from . import MissingExtraError, require_server_extra
from .limits import ServerLimits

__all__ = ["main"]

#: The ``serve`` options that set :class:`ServerLimits` fields: field, type, what it bounds.
_LIMIT_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("tls_handshake_timeout", float, "seconds for a TLS handshake"),
    ("negotiation_timeout", float, "seconds from connect to a bound session"),
    ("idle_timeout", float, "seconds a bound session may stay silent"),
    ("write_timeout", float, "seconds a write to a peer may block before it is cut"),
    ("max_queued_bytes", int, "outbound bytes queued per session before it is cut"),
    ("http_timeout", float, "seconds for each step of an HTTP request"),
)


async def _serve(args: argparse.Namespace) -> None:

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
        state_dir=args.state_dir,
        resume_seconds=args.resume_seconds,
        limits=args.limits,
    ) as server:
        app = server.store.app(args.app_id) or server.add_app(args.app_id, args.auth_key)
        for spec in args.user:
            login, _, password = spec.partition(":")
            user = server.store.user_by_login(app.id, login)
            if user is None:
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
        await _until_stopped()


async def _until_stopped() -> None:
    """Return at the first SIGINT or SIGTERM, so that the server's context closes it
    (listeners, sessions, its temporary folder) and the process exits 0.  Waiting for the
    signal ourselves, instead of letting Ctrl-C interrupt the loop, gives the same clean
    ending on every Python: on 3.10 anyio turns SIGINT into a CancelledError, not a
    KeyboardInterrupt, and a SIGTERM would otherwise skip the clean-up."""
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logging.getLogger("cubeproto.localserver").info(
                "stopping on %s", signal.Signals(signum).name
            )
            return


def _shown(default: float | int | None) -> str:
    if default is None:
        return "no limit"
    return f"{default:g}" if isinstance(default, float) else str(default)


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
    serve.add_argument(
        "--state-dir",
        default=None,
        help="the CA and its key, kept across restarts so clients keep trusting the server "
        "(default: DATABASE.state next to a database file; a temporary folder in memory)",
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
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error", "critical"],
        help="of the cubeproto.localserver logger, on stderr (default: info)",
    )
    defaults = ServerLimits()
    serve.add_argument(
        "--resume-seconds", type=int, default=300, help="XEP-0198 resumption window (300)"
    )
    for field, kind, what in _LIMIT_OPTIONS:
        default = getattr(defaults, field)
        serve.add_argument(
            "--" + field.replace("_", "-"),
            type=kind,
            default=default,
            help=f"{what} ({_shown(default)})",
        )
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
    try:
        args.limits = ServerLimits(
            **{field: getattr(args, field) for field, _, _ in _LIMIT_OPTIONS}
        )
    except ValueError as exc:
        serve.error(str(exc))
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("cubeproto.localserver").setLevel(args.log_level.upper())
    from .server import ListenError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(_serve, args)
    except ListenError as failed:
        print(f"cubeproto serve: {failed}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
