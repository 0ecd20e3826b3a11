"""`scanpay backend serve`: run the reference back end (score service + payment gateway)."""

from __future__ import annotations

import argparse
import sys

from terminal.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `backend` command."""
    parser = sub.add_parser("backend", help="run the reference back end (emulator)")
    inner = parser.add_subparsers(dest="backend_command", metavar="ACTION",
                                  parser_class=type(parser))
    inner.required = True
    serve = inner.add_parser("serve", help="serve the back-end HTTP API until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8750, help="port (0 picks a free one; 8750)")
    serve.add_argument("--db", default="", metavar="FILE",
                       help="SQLite file to keep data in (default: in memory, lost on exit)")
    serve.add_argument("--terminal", action="append", default=[], metavar="ID",
                       help="terminal id to print an API key for (repeatable)")
    serve.add_argument("--no-dev-routes", action="store_true",
                       help="leave out the emulator-only /v1/dev routes")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import socket

    import uvicorn

    from terminal.emulator.backend.app import create_app
    from terminal.emulator.backend.settings import DEFAULT_TERMINALS, BackendSettings

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    terminals = tuple(args.terminal) or DEFAULT_TERMINALS
    settings = BackendSettings(database=args.db, terminals=terminals,
                               dev_routes=not args.no_dev_routes)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stalls
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    app = create_app(settings)
    backend = app.state.backend
    host, port = sock.getsockname()[:2]
    print(f"reference back end at http://{host}:{port}  (OpenAPI: /docs, Ctrl-C stops)")
    print(f"database: {settings.database or 'in memory'}")
    for terminal_id in terminals:
        print(f"API key of {terminal_id}: {backend.api_key_for(terminal_id)}")
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        backend.close()
        sock.close()
    return 0
