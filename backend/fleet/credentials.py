"""MQTT credentials of the fleet: per-device passwords, mosquitto's password file and ACL file.

Each unit signs in to the broker as user ``{device_id}`` with its own password; the back end's
bridge signs in as :data:`~payments.fleet_messages.BACKEND_USER`. The broker keeps only
PBKDF2-SHA512 hashes (mosquitto's ``$7$`` format, written here in Python, so no
``mosquitto_passwd`` is needed). Development passwords derive from the public development seed,
like development API keys (anyone with the source can derive them); real ones are random, shown
once when created (``scanpay backend fleet device add ID``), and only their hash is kept.

The ACL lets a device publish only under ``scanpay/v1/devices/{its id}/up/#`` and subscribe
only to ``.../{its id}/down/#``; the bridge subscribes to every device's ``up`` and publishes to
every device's ``down``. Anonymous clients are refused by the broker configuration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from backend.errors import BackendError
from payments.fleet_messages import BACKEND_USER, TOPIC_ROOT, FleetMessageError, check_device_id

# mosquitto_passwd of mosquitto 2.0 uses 101 iterations and a 12-byte salt. Device passwords are
# 128-bit random tokens, so the iteration count guards nothing a guess could reach; a low count
# keeps 10,000 units signing in at once cheap for the broker.
DEFAULT_ITERATIONS = 101
SALT_BYTES = 12
_HASH_RE = re.compile(r"\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)")


class CredentialsError(BackendError):
    """A password file is malformed, or a device id or password is unusable."""


def password_hash(password: str, *, iterations: int = DEFAULT_ITERATIONS,
                  salt: bytes | None = None) -> str:
    """The mosquitto ``$7$`` hash of ``password``: ``$7$<iterations>$<salt b64>$<hash b64>``."""
    if not password or any(ch in password for ch in "\r\n"):
        raise CredentialsError("a password must be non-empty and one line")
    if not 1 <= iterations <= 10_000_000:
        raise CredentialsError("iterations must be 1..10,000,000")
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return (f"$7${iterations}${base64.b64encode(salt).decode('ascii')}"
            f"${base64.b64encode(digest).decode('ascii')}")


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (constant-time comparison)."""
    match = _HASH_RE.fullmatch(hashed)
    if match is None:
        return False
    salt = base64.b64decode(match.group(2))
    expected = base64.b64decode(match.group(3))
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt,
                                 int(match.group(1)), len(expected))
    return hmac.compare_digest(digest, expected)


def new_password() -> str:
    """A fresh random device password (128 bits, 32 hex digits)."""
    return secrets.token_hex(16)


def dev_mqtt_password(seed_hex: str, user: str) -> str:
    """The development MQTT password of ``user`` (a device id or the bridge's user), derived from
    the public development seed: for dev mode, the emulator and tests only."""
    digest = hmac.new(bytes.fromhex(seed_hex), b"mqtt-password:" + user.encode("utf-8"),
                      hashlib.sha256).hexdigest()
    return digest[:32]


def _check_user(user: str) -> str:
    if user == BACKEND_USER:
        return user
    try:
        return check_device_id(user)
    except FleetMessageError as exc:
        raise CredentialsError(str(exc)) from None


def password_line(user: str, password: str, *, iterations: int = DEFAULT_ITERATIONS) -> str:
    """One password-file line ``user:$7$...`` (no newline)."""
    return f"{_check_user(user)}:{password_hash(password, iterations=iterations)}"


def read_password_file(path: str | Path) -> dict[str, str]:
    """User -> ``$7$`` hash from a mosquitto password file (missing file: empty)."""
    p = Path(path)
    if not p.exists():
        return {}
    entries: dict[str, str] = {}
    for number, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or _HASH_RE.fullmatch(hashed) is None:
            raise CredentialsError(f"{p}:{number}: not a 'user:$7$...' line")
        entries[user] = hashed
    return entries


def write_password_file(path: str | Path, entries: Mapping[str, str]) -> None:
    """Write user -> hash entries atomically, readable by the owner only."""
    p = Path(path)
    text = "".join(f"{_check_user(user)}:{hashed}\n" for user, hashed in sorted(entries.items()))
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CredentialsError(f"cannot write password file {p}: {exc.strerror}") from None


def set_password(path: str | Path, user: str, password: str, *,
                 iterations: int = DEFAULT_ITERATIONS) -> None:
    """Add or replace ``user`` in the password file with the hash of ``password``."""
    entries = read_password_file(path)
    entries[_check_user(user)] = password_hash(password, iterations=iterations)
    write_password_file(path, entries)


def remove_user(path: str | Path, user: str) -> bool:
    """Drop ``user`` from the password file; False when it was not there."""
    entries = read_password_file(path)
    if entries.pop(user, None) is None:
        return False
    write_password_file(path, entries)
    return True


def hashed_entries(passwords: Mapping[str, str], *,
                   iterations: int = DEFAULT_ITERATIONS) -> dict[str, str]:
    """User -> ``$7$`` hash for user -> password."""
    return {_check_user(user): password_hash(pw, iterations=iterations)
            for user, pw in passwords.items()}


def acl_text(backend_users: Iterable[str] = (BACKEND_USER,)) -> str:
    """The broker's ACL: devices under their own id only; the bridge over every device."""
    lines = ["# ScanPay fleet ACL: a device publishes only its own up topics and subscribes only",
             "# to its own down topics (the user name is the device id).",
             f"pattern write {TOPIC_ROOT}/%u/up/#",
             f"pattern read {TOPIC_ROOT}/%u/down/#", ""]
    for user in backend_users:
        lines += [f"user {user}", f"topic read {TOPIC_ROOT}/+/up/#",
                  f"topic write {TOPIC_ROOT}/+/down/#", ""]
    return "\n".join(lines)
