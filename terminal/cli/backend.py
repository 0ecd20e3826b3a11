"""`scanpay backend serve|keys`: run the reference back end; create, rotate and list its keys."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from terminal.cli.backend_disputes import register_disputes
from terminal.cli.backend_fleet import (
    add_mqtt_options,
    check_mqtt_args,
    register_fleet,
    start_bridge,
)
from terminal.cli.backend_retention import register_retention
from terminal.errors import ConfigError

if TYPE_CHECKING:
    from backend.keyring import Keyring
    from backend.roles import Role
    from backend.settings import BackendSettings

_SECRETS_HELP = ("the back end needs its secrets: --keyring FILE (make one with 'scanpay backend "
                 "keys create --keyring FILE') or the SCANPAY_BACKEND_KEYRING variable; "
                 "--dev runs on the public development keys instead")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `backend` command."""
    parser = sub.add_parser("backend", help="run and operate the back end (serve, migrate, "
                            "keys, fleet, console, disputes)")
    inner = parser.add_subparsers(dest="backend_command", metavar="ACTION",
                                  parser_class=type(parser))
    inner.required = True
    serve = inner.add_parser("serve", help="serve the back-end HTTP API until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8750, help="port (0 picks a free one; 8750)")
    serve.add_argument("--store", "--db", dest="store", default=None, metavar="URL",
                       help="where data is kept: a SQLite file path (or sqlite:///path) or "
                            "postgresql://user@host:port/db; default $SCANPAY_BACKEND_STORE, "
                            "else SQLite in memory (lost on exit)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes serving one store (1; more need a SQLite file "
                            "or PostgreSQL, PostgreSQL scales)")
    serve.add_argument("--pool-max", type=int, default=16, metavar="N",
                       help="PostgreSQL connections per worker at most (16)")
    serve.add_argument("--no-migrate", action="store_true",
                       help="refuse to start while schema migrations are pending instead of "
                            "applying them ('scanpay backend migrate' applies them)")
    serve.add_argument("--keyring", default="", metavar="FILE",
                       help="secrets file (mode 600); or set SCANPAY_BACKEND_KEYRING to its JSON")
    serve.add_argument("--dev", action="store_true",
                       help="development mode: public development keys, demo subjects and the "
                            "/v1/dev routes; loopback only")
    serve.add_argument("--terminal", action="append", default=[], metavar="ID",
                       help="--dev: terminal id to accept the development key of (repeatable; "
                            "print one with 'scanpay backend keys dev-key')")
    serve.add_argument("--require-signatures", action="store_true",
                       help="refuse requests without a valid HMAC signature (signed ones are "
                            "always checked)")
    serve.add_argument("--no-dev-routes", action="store_true",
                       help="--dev: leave out the emulator-only /v1/dev routes")
    add_mqtt_options(serve)
    serve.set_defaults(handler=_serve)
    migrate = inner.add_parser("migrate", help="apply the store's pending schema migrations",
                               description="Apply the pending schema migrations of a store "
                                           "(versioned, in the table schema_migrations), or "
                                           "list them with --status.")
    migrate.add_argument("--store", default=None, metavar="URL",
                         help="SQLite file path or postgresql://... (default "
                              "$SCANPAY_BACKEND_STORE)")
    migrate.add_argument("--status", action="store_true",
                         help="list applied and pending migrations; change nothing")
    migrate.set_defaults(handler=_migrate)
    _register_keys(inner)
    register_fleet(inner)
    _register_console_link(inner)
    register_disputes(inner)
    register_retention(inner)


def _register_keys(inner: argparse._SubParsersAction) -> None:
    keys = inner.add_parser("keys", help="create, rotate and list the back end's keys")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION",
                                  parser_class=type(keys))
    actions.required = True
    create = actions.add_parser("create", help="make the keyring if missing; add a terminal key")
    create.add_argument("--keyring", required=True, metavar="FILE")
    create.add_argument("--terminal", metavar="ID", help="terminal to create an API key for")
    create.add_argument("--role", help="its role: bike_lock, kiosk, operator or scorer")
    create.set_defaults(handler=_keys_create)
    rotate = actions.add_parser("rotate", help="replace a key; the old one keeps working a while")
    rotate.add_argument("kind", choices=("api", "signing", "face"))
    rotate.add_argument("--keyring", required=True, metavar="FILE")
    rotate.add_argument("--terminal", metavar="ID", help="api: whose key to rotate")
    rotate.add_argument("--grace-hours", type=float, default=24.0,
                        help="api: hours the old key stays valid (24; 0 ends it now)")
    rotate.add_argument("--db", "--store", dest="db", default="", metavar="URL",
                        help="face: re-encrypt the templates in this store (SQLite file or "
                             "postgresql://...) now (otherwise at the next start)")
    rotate.set_defaults(handler=_keys_rotate)
    listing = actions.add_parser("list", help="key ids, terminals, roles and dates (no secrets)")
    listing.add_argument("--keyring", required=True, metavar="FILE")
    listing.set_defaults(handler=_keys_list)
    dev = actions.add_parser("dev-key", help="the public development key of a terminal (--dev)")
    dev.add_argument("--terminal", required=True, metavar="ID")
    dev.set_defaults(handler=_keys_dev)


def _register_console_link(inner: argparse._SubParsersAction) -> None:
    link = inner.add_parser(
        "console-link", help="print a one-time sign-in link to the operator console",
        description="Print a one-time, short-lived link that signs an operator in to the "
                    "operator console (/console) of a running back end. It is MACed with the "
                    "operator's API key secret from the keyring; it works once, until it "
                    "expires.")
    link.add_argument("--operator", required=True, metavar="ID",
                      help="the operator's id (a terminal id with an operator-role key)")
    link.add_argument("--keyring", default="", metavar="FILE",
                      help="the back end's secrets file (or SCANPAY_BACKEND_KEYRING)")
    link.add_argument("--dev", action="store_true",
                      help="for 'scanpay backend serve --dev': the operator's development key "
                           "(the id must contain 'operator')")
    link.add_argument("--url", default="http://127.0.0.1:8750", metavar="URL",
                      help="the back end's address as the browser reaches it "
                           "(http://127.0.0.1:8750)")
    link.add_argument("--minutes", type=float, default=5.0,
                      help="how long the link works, 1..15 minutes (5)")
    link.set_defaults(handler=_console_link)


def _console_link(args: argparse.Namespace) -> int:
    from backend.console.links import mint_link_token
    from backend.console.operators import dev_operator_key, find_operator_key
    from backend.errors import BackendError
    from backend.keyring import keyring_from_env, load_keyring
    from backend.settings import DEV_SIGNING_SEED_HEX

    if not 1 <= args.minutes <= 15:
        raise ConfigError(f"--minutes must be 1..15, got {args.minutes:g}")
    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url must start with http:// or https://, got {args.url!r}")
    now = time.time()
    if args.dev:
        if args.keyring:
            raise ConfigError("--dev uses the development keys; leave out --keyring")
        key = dev_operator_key(DEV_SIGNING_SEED_HEX, args.operator)
        if key is None:
            raise ConfigError(f"{args.operator!r} is not a development operator id "
                              "(it must contain 'operator', e.g. emu-operator-0001)")
    else:
        keyring = load_keyring(args.keyring) if args.keyring else keyring_from_env()
        if keyring is None:
            raise ConfigError(_SECRETS_HELP)
        key = find_operator_key(keyring.api_keys, args.operator, now)
        if key is None:
            raise ConfigError(f"the keyring has no usable operator key for {args.operator!r}; "
                              "create one: scanpay backend keys create --keyring FILE "
                              f"--terminal {args.operator} --role operator")
    try:
        token = mint_link_token(operator_id=args.operator, key_id=key.key_id,
                                sign_secret=key.sign_secret, now=now,
                                ttl_s=int(args.minutes * 60))
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    print(f"one-time sign-in link for {args.operator} (works once, for {args.minutes:g} "
          "minutes):", file=sys.stderr)
    print(f"{url}/console/link?token={token}")
    return 0


def _store_url(given: str | None) -> str:
    import os

    from backend.settings import STORE_ENV

    return given if given is not None else os.environ.get(STORE_ENV, "")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app
    from backend.errors import BackendError
    from backend.server import listening_socket, uvicorn_config
    from backend.settings import DEFAULT_TERMINALS, is_loopback

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    if args.dev and not is_loopback(args.host):
        raise ConfigError(f"--dev binds loopback only (its keys are public), not {args.host}")
    if not args.dev and (args.terminal or args.no_dev_routes):
        raise ConfigError("--terminal and --no-dev-routes apply to --dev only")
    if not 1 <= args.workers <= 64 or not 1 <= args.pool_max <= 200:
        raise ConfigError("--workers must be 1..64 and --pool-max 1..200")
    args.store = _store_url(args.store)
    if args.workers > 1 and not args.store:
        raise ConfigError("several workers need a store they share: --store FILE or "
                          "--store postgresql://...")
    check_mqtt_args(args)
    settings = _settings(args, DEFAULT_TERMINALS)
    if args.workers > 1:
        return _serve_workers(args, settings)
    try:
        sock = listening_socket(args.host, args.port)
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    try:
        app = create_app(settings)
    except BackendError as exc:
        sock.close()
        raise ConfigError(str(exc)) from None
    backend = app.state.backend
    _announce(settings, sock.getsockname()[1], args, backend.keyring)
    bridge = start_bridge(args, backend)
    server = uvicorn.Server(uvicorn_config(app, access_log=True))
    try:
        server.run(sockets=[sock])
    finally:
        if bridge is not None:
            bridge.stop()
        backend.close()
        sock.close()
    return 0


def _announce(settings: BackendSettings, port: int, args: argparse.Namespace,
              keyring: Keyring) -> None:
    from backend.store import describe_url

    print(f"reference back end at http://{args.host}:{port}  (OpenAPI: /docs, Ctrl-C stops)")
    print(f"database: {describe_url(settings.database)}; {args.workers} worker(s)")
    if settings.dev:
        print("DEVELOPMENT MODE: every key derives from the public development seed; "
              "a terminal's key: scanpay backend keys dev-key --terminal ID")
    else:
        print(f"keys: {len(keyring.api_keys)} terminal key(s); "
              f"signing key {keyring.active_signing.key_id}, "
              f"face key {keyring.active_face.key_id}")
    sys.stdout.flush()


def _serve_workers(args: argparse.Namespace, settings: BackendSettings) -> int:
    from backend.errors import BackendError
    from backend.server import serve_workers

    keyring = settings.keyring
    if keyring is None:
        from backend.keyring import dev_keyring, dev_terminal_roles

        keyring = dev_keyring(settings.signing_seed_hex, dev_terminal_roles(settings.terminals))
    try:
        return serve_workers(settings, host=args.host, port=args.port, workers=args.workers,
                             on_ready=lambda port: _announce(settings, port, args, keyring))
    except BackendError as exc:
        raise ConfigError(str(exc)) from None


def _migrate(args: argparse.Namespace) -> int:
    from backend.app import migrations
    from backend.errors import BackendError
    from backend.migrations import applied, migrate, pending
    from backend.store import describe_url, open_store

    url = _store_url(args.store)
    if not url:
        raise ConfigError("name the store: --store FILE or --store postgresql://... (or set "
                          "SCANPAY_BACKEND_STORE)")
    if "://" not in url and not Path(url).is_file() and args.status:
        raise ConfigError(f"no database at {url}")
    try:
        store = open_store(url)
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    try:
        steps = migrations()
        if args.status:
            for version, name, checksum, at in applied(store):
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
                print(f"{version:4d}  {name}  {checksum}  applied {when} UTC")
            waiting = pending(store, steps)
            print(f"{len(waiting)} pending" + "".join(f"\n   -  {m.name}" for m in waiting))
            return 0
        ran = migrate(store, steps, time.time())
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    print(f"{describe_url(url)}: applied {len(ran)} migration(s)"
          + "".join(f"\n  {name}" for name in ran))
    return 0


def _settings(args: argparse.Namespace, default_terminals: tuple[str, ...]) -> BackendSettings:
    from backend.keyring import keyring_from_env, load_keyring
    from backend.settings import BackendSettings

    if args.dev:
        if args.keyring:
            raise ConfigError("--dev uses the development keys; leave out --keyring")
        return BackendSettings(database=args.store, terminals=tuple(args.terminal) or
                               default_terminals, dev_routes=not args.no_dev_routes, dev=True,
                               require_signatures=args.require_signatures,
                               workers=args.workers, pool_max=args.pool_max,
                               migrate=not args.no_migrate)
    keyring = load_keyring(args.keyring) if args.keyring else keyring_from_env()
    if keyring is None:
        raise ConfigError(_SECRETS_HELP)
    return BackendSettings(database=args.store, dev=False, keyring=keyring, seed_demo=False,
                           dev_routes=False, terminals=(),
                           require_signatures=args.require_signatures,
                           workers=args.workers, pool_max=args.pool_max,
                           migrate=not args.no_migrate)


def _keys_create(args: argparse.Namespace) -> int:
    from backend.keyring import load_keyring, new_keyring, save_keyring

    now = time.time()
    path = Path(args.keyring)
    if (args.terminal is None) != (args.role is None):
        raise ConfigError("--terminal and --role go together")
    role = _role(args.role) if args.role else None
    if path.exists():
        keyring = load_keyring(path)
    else:
        keyring = new_keyring(now)
        save_keyring(path, keyring)
        print(f"created keyring {path} (mode 600): signing key {keyring.active_signing.key_id},"
              f" face key {keyring.active_face.key_id}")
    if args.terminal is not None and role is not None:
        keyring, key = keyring.with_api_key(args.terminal, role, now)
        save_keyring(path, keyring)
        print(f"API key of {args.terminal} (role {role}, id {keyring.api_keys[-1].key_id}); "
              "shown only now, store it on the terminal:")
        print(key)
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    from backend.keyring import load_keyring, save_keyring

    now = time.time()
    keyring = load_keyring(args.keyring)
    if args.kind == "api":
        if not args.terminal:
            raise ConfigError("rotate api needs --terminal ID")
        if args.grace_hours < 0:
            raise ConfigError("--grace-hours must be >= 0")
        keyring, key = keyring.rotate_api_key(args.terminal, now, args.grace_hours * 3600)
        save_keyring(args.keyring, keyring)
        print(f"new API key of {args.terminal} (id {keyring.api_keys[-1].key_id}); the old one "
              f"works {args.grace_hours:g} more hour(s). Shown only now:")
        print(key)
        return 0
    if args.kind == "signing":
        keyring = keyring.rotate_signing(now)
        save_keyring(args.keyring, keyring)
        print(f"new signing key {keyring.active_signing.key_id}; codes signed by the old ones "
              "stay valid until they expire")
        return 0
    keyring = keyring.rotate_face(now)
    save_keyring(args.keyring, keyring)
    print(f"new face key {keyring.active_face.key_id}; templates under older keys stay readable")
    if args.db:
        _reencrypt(keyring, args.db)
        print(f"re-encrypted the templates in {args.db}")
    else:
        print("they are re-encrypted under the new key when the back end next starts")
    return 0


def _reencrypt(keyring: Keyring, database: str) -> None:
    from backend.app import create_app
    from backend.settings import BackendSettings

    if "://" not in database and not Path(database).is_file():
        raise ConfigError(f"no database at {database}")
    app = create_app(BackendSettings(database=database, dev=False, keyring=keyring,
                                     seed_demo=False, dev_routes=False, terminals=()))
    app.state.backend.close()


def _keys_list(args: argparse.Namespace) -> int:
    from backend.keyring import load_keyring

    for line in load_keyring(args.keyring).describe():
        print(line)
    return 0


def _keys_dev(args: argparse.Namespace) -> int:
    from backend.keyring import dev_api_key
    from backend.roles import dev_role
    from backend.settings import DEV_SIGNING_SEED_HEX

    print(f"development key of {args.terminal} (role {dev_role(args.terminal)}; "
          "accepted by 'scanpay backend serve --dev' only):")
    print(dev_api_key(DEV_SIGNING_SEED_HEX, args.terminal))
    return 0


def _role(text: str) -> Role:
    from backend.roles import parse_role

    try:
        return parse_role(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
