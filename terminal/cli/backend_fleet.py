"""`scanpay backend fleet ...` (device credentials, ACL), `scanpay backend bridge`, and the
`--mqtt` options of `scanpay backend serve` that run the fleet bridge in the serving process."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terminal.errors import ConfigError

if TYPE_CHECKING:
    from backend.context import Backend
    from backend.fleet.bridge import Bridge

PASSWORD_ENV = "SCANPAY_MQTT_PASSWORD"


def add_mqtt_options(parser: argparse.ArgumentParser) -> None:
    """``--mqtt URL`` and the bridge's credentials."""
    parser.add_argument("--mqtt", default="", metavar="URL",
                        help="run the fleet bridge against this broker (mqtt://host:port); "
                             "one bridge per back end: with --workers > 1 run "
                             "'scanpay backend bridge' instead")
    parser.add_argument("--mqtt-password-file", default="", metavar="FILE",
                        help=f"the bridge's broker password (mode 600); or ${PASSWORD_ENV}; "
                             "--dev derives it from the development seed")


def register_fleet(inner: argparse._SubParsersAction) -> None:
    """Add `backend fleet` (credentials) and `backend bridge` (the bridge on its own)."""
    fleet = inner.add_parser("fleet", help="fleet credentials: device passwords and the ACL")
    actions = fleet.add_subparsers(dest="fleet_command", metavar="ACTION",
                                   parser_class=type(fleet))
    actions.required = True
    device = actions.add_parser("device", help="add, remove or list devices in the broker's "
                                               "password file")
    dev_actions = device.add_subparsers(dest="device_command", metavar="ACTION",
                                        parser_class=type(device))
    dev_actions.required = True
    add = dev_actions.add_parser("add", help="give a device a new random password (shown once)")
    add.add_argument("device_id", metavar="ID")
    add.add_argument("--passwords", required=True, metavar="FILE",
                     help="mosquitto password file ($7$ hashes; created mode 600)")
    add.set_defaults(handler=_device_add)
    remove = dev_actions.add_parser("remove", help="remove a device's password")
    remove.add_argument("device_id", metavar="ID")
    remove.add_argument("--passwords", required=True, metavar="FILE")
    remove.set_defaults(handler=_device_remove)
    listing = dev_actions.add_parser("list", help="the users in the password file")
    listing.add_argument("--passwords", required=True, metavar="FILE")
    listing.set_defaults(handler=_device_list)
    bridge_user = actions.add_parser("bridge-user", help="give the back end's bridge a new "
                                                         "random password (shown once)")
    bridge_user.add_argument("--passwords", required=True, metavar="FILE")
    bridge_user.set_defaults(handler=_bridge_user)
    acl = actions.add_parser("acl", help="write the broker's ACL file (devices confined to "
                                         "their own topics)")
    acl.add_argument("--out", required=True, metavar="FILE")
    acl.set_defaults(handler=_acl)
    dev_pw = actions.add_parser("dev-password", help="the public development password of a "
                                                     "device (brokers of --dev back ends)")
    dev_pw.add_argument("device_id", metavar="ID")
    dev_pw.set_defaults(handler=_dev_password)

    bridge = inner.add_parser("bridge", help="run the fleet bridge on its own (one per back "
                                             "end; for several serve workers)")
    bridge.add_argument("--store", "--db", dest="store", default=None, metavar="URL",
                        help="the back end's store: SQLite file or postgresql://... (default "
                             "$SCANPAY_BACKEND_STORE)")
    bridge.add_argument("--keyring", default="", metavar="FILE",
                        help="the back end's secrets (devices' roles come from their API keys)")
    bridge.add_argument("--dev", action="store_true",
                        help="development mode: roles from device ids, development password")
    add_mqtt_options(bridge)
    bridge.set_defaults(handler=_bridge)


def _passwords(path: str) -> Path:
    p = Path(path)
    if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077:
        raise ConfigError(f"{p} is readable or writable by others; run: chmod 600 {p}")
    return p


def _device_add(args: argparse.Namespace) -> int:
    from backend.fleet.credentials import CredentialsError, new_password, set_password

    password = new_password()
    try:
        set_password(_passwords(args.passwords), args.device_id, password)
    except CredentialsError as exc:
        raise ConfigError(str(exc)) from None
    print(f"MQTT password of {args.device_id} (only its hash is kept in {args.passwords}; "
          "send the broker SIGHUP to load it). Shown only now, store it on the unit:")
    print(password)
    return 0


def _bridge_user(args: argparse.Namespace) -> int:
    from backend.fleet.credentials import new_password, set_password
    from payments.fleet_messages import BACKEND_USER

    password = new_password()
    set_password(_passwords(args.passwords), BACKEND_USER, password)
    print(f"MQTT password of the bridge (user {BACKEND_USER}); give it to 'scanpay backend "
          f"serve --mqtt' as --mqtt-password-file or ${PASSWORD_ENV}. Shown only now:")
    print(password)
    return 0


def _device_remove(args: argparse.Namespace) -> int:
    from backend.fleet.credentials import CredentialsError, remove_user

    try:
        removed = remove_user(_passwords(args.passwords), args.device_id)
    except CredentialsError as exc:
        raise ConfigError(str(exc)) from None
    if not removed:
        raise ConfigError(f"{args.device_id} is not in {args.passwords}")
    print(f"removed {args.device_id}; send the broker SIGHUP to refuse it from now on")
    return 0


def _device_list(args: argparse.Namespace) -> int:
    from backend.fleet.credentials import CredentialsError, read_password_file

    try:
        users = sorted(read_password_file(_passwords(args.passwords)))
    except CredentialsError as exc:
        raise ConfigError(str(exc)) from None
    for user in users:
        print(user)
    return 0


def _acl(args: argparse.Namespace) -> int:
    from backend.fleet.credentials import acl_text

    Path(args.out).write_text(acl_text(), encoding="utf-8")
    print(f"wrote {args.out}; point the broker's acl_file at it")
    return 0


def _dev_password(args: argparse.Namespace) -> int:
    from backend.fleet.credentials import dev_mqtt_password
    from backend.settings import DEV_SIGNING_SEED_HEX
    from payments.fleet_messages import valid_device_id

    if not valid_device_id(args.device_id):
        raise ConfigError(f"{args.device_id!r} is not a device id")
    print(dev_mqtt_password(DEV_SIGNING_SEED_HEX, args.device_id))
    return 0


def bridge_password(args: argparse.Namespace, dev: bool) -> str:
    """The bridge's broker password from --mqtt-password-file, the environment, or (dev) the
    development seed."""
    if args.mqtt_password_file:
        p = _passwords(args.mqtt_password_file)
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {p}: {exc.strerror}") from None
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if dev:
        from backend.fleet.credentials import dev_mqtt_password
        from backend.settings import DEV_SIGNING_SEED_HEX
        from payments.fleet_messages import BACKEND_USER

        return dev_mqtt_password(DEV_SIGNING_SEED_HEX, BACKEND_USER)
    raise ConfigError(f"the bridge needs its broker password: --mqtt-password-file FILE or "
                      f"${PASSWORD_ENV} (make one: scanpay backend fleet bridge-user)")


def check_mqtt_args(args: argparse.Namespace) -> None:
    """Refuse --mqtt where it would start more than one bridge."""
    if getattr(args, "mqtt", "") and getattr(args, "workers", 1) > 1:
        raise ConfigError("one bridge per back end: with --workers > 1 leave out --mqtt and "
                          "run 'scanpay backend bridge --store ... --mqtt ...' beside it")
    if getattr(args, "mqtt_password_file", "") and not getattr(args, "mqtt", ""):
        raise ConfigError("--mqtt-password-file goes with --mqtt")


def start_bridge(args: argparse.Namespace, backend: Backend) -> Bridge | None:
    """Start the bridge of ``serve --mqtt`` on ``backend`` (None without --mqtt)."""
    if not getattr(args, "mqtt", ""):
        return None
    from backend.errors import BackendError
    from backend.fleet.bridge import Bridge

    password = bridge_password(args, backend.settings.dev)
    try:
        bridge = Bridge(backend, args.mqtt, password).start()
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    print(f"fleet bridge: subscribed at {args.mqtt}")
    sys.stdout.flush()
    return bridge


def _bridge(args: argparse.Namespace) -> int:
    from backend.app import create_app
    from backend.errors import BackendError
    from backend.settings import BackendSettings

    if not args.mqtt:
        raise ConfigError("name the broker: --mqtt mqtt://host:port")
    store = args.store if args.store is not None else os.environ.get("SCANPAY_BACKEND_STORE", "")
    if not store:
        raise ConfigError("the bridge writes to the back end's store: --store FILE or "
                          "--store postgresql://...")
    settings: Any
    if args.dev:
        if args.keyring:
            raise ConfigError("--dev uses the development keys; leave out --keyring")
        settings = BackendSettings(database=store, dev=True, seed_demo=False, dev_routes=False)
    else:
        from backend.keyring import keyring_from_env, load_keyring

        keyring = load_keyring(args.keyring) if args.keyring else keyring_from_env()
        if keyring is None:
            raise ConfigError("the bridge needs the back end's keyring (--keyring FILE or "
                              "SCANPAY_BACKEND_KEYRING) for the devices' roles, or --dev")
        settings = BackendSettings(database=store, dev=False, keyring=keyring,
                                   seed_demo=False, dev_routes=False, terminals=())
    try:
        backend = create_app(settings).state.backend
    except BackendError as exc:
        raise ConfigError(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        bridge = start_bridge(args, backend)
        assert bridge is not None
        try:
            while not stop.wait(60):
                print(f"fleet bridge: {bridge.stats.as_dict()}", file=sys.stderr)
        finally:
            bridge.stop()
    finally:
        backend.close()
    return 0
