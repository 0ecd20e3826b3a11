"""The back end's secrets with key ids: API keys, payment-code signing keys, face-template keys.

A keyring lives in a JSON file readable only by its owner (mode 0600; anything group- or
world-readable is refused) or in the ``SCANPAY_BACKEND_KEYRING`` environment variable. API keys
are kept only as SHA-256 hashes: the key itself is shown once, when it is created. Signing and
face keys are lists whose last entry is the active one; older entries stay for verifying codes
and opening templates until they are re-encrypted. Development mode derives a keyring from the
public development seed and is never used otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backend.errors import BackendError
from backend.roles import Role, dev_role, parse_role
from payments.clients.signing import signing_secret

KEYRING_ENV = "SCANPAY_BACKEND_KEYRING"
FORMAT = "scanpay-backend-keyring/1"
DEV_KEY_ID = "dev"
_API_KEY_PREFIX = "sk_"


class KeyringError(BackendError):
    """A keyring is missing, unsafe to read, or malformed."""


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """One terminal's API key, stored as a hash, with its role and lifetime."""

    key_id: str
    terminal_id: str
    role: Role
    key_hash: str
    created_at: float
    # After this unix time the key is refused (a rotated key's grace period); None = no end.
    expires_at: float | None = None
    # HMAC secret of its request signatures (payments.clients.signing); b"" = cannot sign.
    sign_secret: bytes = field(default=b"", repr=False)

    def usable(self, now: float) -> bool:
        """Whether the key is accepted at ``now``."""
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class SecretKey:
    """A 32-byte secret with an id (a signing seed or a face-template secret)."""

    key_id: str
    secret: bytes = field(repr=False)
    created_at: float


@dataclass(frozen=True)
class Keyring:
    """Every secret of one back end."""

    api_keys: tuple[ApiKey, ...]
    signing_keys: tuple[SecretKey, ...]
    face_keys: tuple[SecretKey, ...]
    # Keys the phone-number hashes; cannot be rotated without every enrollment's phone number.
    phone_pepper: bytes = field(repr=False)
    dev: bool = False

    def __post_init__(self) -> None:
        if not self.signing_keys or not self.face_keys:
            raise KeyringError("a keyring needs at least one signing key and one face key")
        for group in (self.api_keys, self.signing_keys, self.face_keys):
            ids = [k.key_id for k in group]
            if len(set(ids)) != len(ids):
                raise KeyringError("key ids must be unique")

    @property
    def active_signing(self) -> SecretKey:
        """The signing key new payment codes are signed with."""
        return self.signing_keys[-1]

    @property
    def active_face(self) -> SecretKey:
        """The face key new templates are sealed with."""
        return self.face_keys[-1]

    def with_api_key(self, terminal_id: str, role: Role, now: float) -> tuple[Keyring, str]:
        """A keyring with a new API key for ``terminal_id``, and the key (shown only once)."""
        key_id = f"ak_{secrets.token_hex(4)}"
        key = f"{_API_KEY_PREFIX}{key_id[3:]}_{secrets.token_urlsafe(30)}"
        entry = ApiKey(key_id, terminal_id, role, hash_api_key(key), now,
                       sign_secret=signing_secret(key))
        return replace(self, api_keys=(*self.api_keys, entry)), key

    def rotate_api_key(self, terminal_id: str, now: float,
                       grace_s: float) -> tuple[Keyring, str]:
        """A new key for ``terminal_id`` (same role); its older keys expire after ``grace_s``."""
        current = [k for k in self.api_keys if k.terminal_id == terminal_id and k.usable(now)]
        if not current:
            raise KeyringError(f"terminal {terminal_id!r} has no API key to rotate")
        ends = now + grace_s
        kept = tuple(
            replace(k, expires_at=min(ends, k.expires_at or ends))
            if k.terminal_id == terminal_id else k for k in self.api_keys)
        return replace(self, api_keys=kept).with_api_key(terminal_id, current[-1].role, now)

    def rotate_signing(self, now: float) -> Keyring:
        """A new active signing key; the old ones still verify codes already issued."""
        return replace(self, signing_keys=(*self.signing_keys, _new_secret("sig", now)))

    def rotate_face(self, now: float) -> Keyring:
        """A new active face key; templates are re-encrypted under it when the back end starts."""
        return replace(self, face_keys=(*self.face_keys, _new_secret("face", now)))

    def to_json(self) -> dict[str, Any]:
        """The file form (secrets in hex)."""
        return {
            "format": FORMAT,
            "api_keys": [{"key_id": k.key_id, "terminal_id": k.terminal_id, "role": k.role,
                          "sha256": k.key_hash, "created_at": k.created_at,
                          "expires_at": k.expires_at, "signing_secret_hex": k.sign_secret.hex()}
                         for k in self.api_keys],
            "signing_keys": [_secret_json(k) for k in self.signing_keys],
            "face_keys": [_secret_json(k) for k in self.face_keys],
            "phone_pepper_hex": self.phone_pepper.hex(),
        }

    @classmethod
    def from_json(cls, data: Any) -> Keyring:
        """Parse the file form; KeyringError names what is wrong."""
        try:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"not a keyring (format must be {FORMAT!r})")
            api = tuple(ApiKey(str(k["key_id"]), str(k["terminal_id"]), parse_role(k["role"]),
                               _hex_text(k["sha256"], 32), float(k["created_at"]),
                               None if k.get("expires_at") is None else float(k["expires_at"]),
                               bytes.fromhex(str(k.get("signing_secret_hex", ""))))
                        for k in data.get("api_keys", []))
            return cls(api_keys=api,
                       signing_keys=tuple(_secret_from(k) for k in data["signing_keys"]),
                       face_keys=tuple(_secret_from(k) for k in data["face_keys"]),
                       phone_pepper=_hex_bytes(data["phone_pepper_hex"]))
        except KeyringError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyringError(f"malformed keyring: {exc}") from None

    def describe(self) -> list[str]:
        """One line per key: ids, roles and dates, never a secret."""
        lines = [f"api key {k.key_id}  terminal {k.terminal_id}  role {k.role}"
                 + (f"  expires {_date(k.expires_at)}" if k.expires_at is not None else "")
                 for k in self.api_keys]
        for what, group in (("signing key", self.signing_keys), ("face key", self.face_keys)):
            for i, k in enumerate(group):
                state = "active" if i == len(group) - 1 else "previous"
                lines.append(f"{what} {k.key_id}  {state}  created {_date(k.created_at)}")
        return lines


def new_keyring(now: float) -> Keyring:
    """A keyring of fresh random secrets and no API keys."""
    return Keyring(api_keys=(), signing_keys=(_new_secret("sig", now),),
                   face_keys=(_new_secret("face", now),), phone_pepper=secrets.token_bytes(32))


def dev_keyring(seed_hex: str, terminals: dict[str, Role] | None = None) -> Keyring:
    """The development keyring: every secret derived from the public development seed."""
    seed = bytes.fromhex(seed_hex)
    api = tuple(dev_entry(seed_hex, tid, role) for tid, role in (terminals or {}).items())
    return Keyring(api_keys=api, signing_keys=(SecretKey(DEV_KEY_ID, seed, 0.0),),
                   face_keys=(SecretKey(DEV_KEY_ID, seed, 0.0),), phone_pepper=seed, dev=True)


def dev_entry(seed_hex: str, terminal_id: str, role: Role, key: str | None = None) -> ApiKey:
    """The keyring entry of a development key (``key``, or the one derived for the id)."""
    key = key or dev_api_key(seed_hex, terminal_id)
    key_hash = hash_api_key(key)
    return ApiKey(f"dev_{key_hash[:8]}", terminal_id, role, key_hash, 0.0,
                  sign_secret=signing_secret(key))


def dev_api_key(seed_hex: str, terminal_id: str) -> str:
    """The development API key of ``terminal_id`` (anyone with the source can derive it)."""
    digest = hmac.new(bytes.fromhex(seed_hex), b"api-key:" + terminal_id.encode("utf-8"),
                      hashlib.sha256).hexdigest()
    return f"{_API_KEY_PREFIX}{digest[:40]}"


def dev_terminal_roles(terminal_ids: tuple[str, ...]) -> dict[str, Role]:
    """Development terminals with the role their ids suggest."""
    return {tid: dev_role(tid) for tid in terminal_ids}


def load_keyring(path: str | Path) -> Keyring:
    """Read a keyring file, refusing one that others can read or write."""
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise KeyringError(f"keyring {p} is not a regular file")
        if st.st_mode & 0o077:
            raise KeyringError(f"keyring {p} is readable or writable by others "
                               f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {p}")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyringError(f"cannot read keyring {p}: {exc.strerror}") from None
    return _parse_text(text, str(p))


def keyring_from_env(environ: dict[str, str] | None = None) -> Keyring | None:
    """The keyring held in ``SCANPAY_BACKEND_KEYRING`` (JSON text), or None when unset."""
    text = (environ if environ is not None else os.environ).get(KEYRING_ENV, "")
    return _parse_text(text, KEYRING_ENV) if text.strip() else None


def save_keyring(path: str | Path, keyring: Keyring) -> None:
    """Write the keyring atomically, readable by its owner only."""
    p = Path(path)
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(keyring.to_json(), fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise KeyringError(f"cannot write keyring {p}: {exc.strerror}") from None


def _parse_text(text: str, where: str) -> Keyring:
    try:
        data = json.loads(text)
    except ValueError:
        raise KeyringError(f"keyring {where} is not JSON") from None
    return Keyring.from_json(data)


def _new_secret(prefix: str, now: float) -> SecretKey:
    return SecretKey(f"{prefix}_{secrets.token_hex(4)}", secrets.token_bytes(32), now)


def _secret_json(k: SecretKey) -> dict[str, Any]:
    return {"key_id": k.key_id, "secret_hex": k.secret.hex(), "created_at": k.created_at}


def _secret_from(data: Any) -> SecretKey:
    return SecretKey(str(data["key_id"]), _hex_bytes(data["secret_hex"]),
                     float(data["created_at"]))


def _hex_bytes(text: Any) -> bytes:
    value = bytes.fromhex(str(text))
    if len(value) != 32:
        raise ValueError("secrets are 32 bytes (64 hex digits)")
    return value


def _hex_text(text: Any, size: int) -> str:
    value = str(text)
    if len(bytes.fromhex(value)) != size:
        raise ValueError("a key hash is 64 hex digits")
    return value.lower()


def _date(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
