"""What a router gets from the app: the back end, the calling terminal, the request id.

Use these as FastAPI dependencies::

    @router.get("/v1/things/{thing_id}")
    def get_thing(thing_id: str, backend: BackendDep, terminal_id: TerminalId) -> dict[str, Any]:
        with backend.store.transaction() as conn:
            ...
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from backend.errors import ApiError, BackendError
from backend.keyring import (
    ApiKey,
    Keyring,
    dev_api_key,
    dev_entry,
    dev_keyring,
    dev_terminal_roles,
    hash_api_key,
)
from backend.roles import Role, allowed, dev_role
from backend.settings import BackendSettings
from backend.store import BaseStore, StoreBusy, open_store
from payments.money import Money, MoneyError
from payments.paycode import public_key_id, signing_key_from_seed

T = TypeVar("T")


_BEARER_RE = re.compile(r"Bearer ([A-Za-z0-9_\-]{8,128})")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the terminal of the API key and its role."""

    terminal_id: str
    role: Role
    key_id: str
    key_hash: str = field(default="", repr=False)
    # HMAC secret of the key's request signatures (b"": the key cannot sign).
    sign_secret: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Backend:
    """Everything a route handler needs: settings, storage, clock and keys."""

    settings: BackendSettings
    store: BaseStore
    keyring: Keyring
    # API key hash -> key; development keys are added on request (dev mode only).
    _api_keys: dict[str, ApiKey] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, settings: BackendSettings) -> Backend:
        """Open the database and load the keys (the development ones in dev mode)."""
        if settings.dev:
            roles = dev_terminal_roles(settings.terminals)
            roles.update({tid: dev_role(tid) for tid in settings.api_keys.values()})
            keyring = dev_keyring(settings.signing_seed_hex, roles)
        else:
            assert settings.keyring is not None
            keyring = settings.keyring
        store = open_store(settings.database, **settings.store_options)
        backend = cls(settings=settings, store=store, keyring=keyring)
        for entry in keyring.api_keys:
            backend._api_keys[entry.key_hash] = entry
        for key, terminal_id in settings.api_keys.items():
            backend.register_api_key(key, terminal_id)
        return backend

    @property
    def clock(self) -> Callable[[], float]:
        """The injected unix-time clock."""
        return self.settings.clock

    def now(self) -> float:
        """Current unix time from the injected clock."""
        return float(self.settings.clock())

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The active payment-code signing key."""
        return _signing_key(self.keyring.active_signing.secret)

    @property
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Key id -> public key of every payment-code signing key this back end accepts."""
        pubs = (_signing_key(k.secret).public_key() for k in self.keyring.signing_keys)
        return {public_key_id(pub): pub for pub in pubs}

    def api_key_for(self, terminal_id: str, role: Role | None = None) -> str:
        """The development API key of ``terminal_id`` (dev mode only; registered on use with
        ``role``, or the role its id suggests)."""
        if not self.settings.dev:
            raise BackendError("API keys of a non-dev back end come from its keyring "
                               "(scanpay backend keys create)")
        if self.store.closed:
            raise BackendError("the back end is closed")
        key = dev_api_key(self.settings.signing_seed_hex, terminal_id)
        known = self._api_keys.get(hash_api_key(key))
        if known is None or (role is not None and known.role != role):
            self._api_keys[hash_api_key(key)] = dev_entry(
                self.settings.signing_seed_hex, terminal_id, role or dev_role(terminal_id), key)
        return key

    def register_api_key(self, key: str, terminal_id: str, role: Role | None = None) -> None:
        """Accept ``key`` as the API key of ``terminal_id`` (dev mode only)."""
        if not self.settings.dev:
            raise BackendError("a non-dev back end accepts only the keys of its keyring")
        self._api_keys[hash_api_key(key)] = dev_entry(
            self.settings.signing_seed_hex, terminal_id, role or dev_role(terminal_id), key)

    def authenticate(self, authorization: str) -> Caller | None:
        """The caller of an ``Authorization: Bearer <key>`` header, or None."""
        match = _BEARER_RE.fullmatch(authorization.strip())
        if not match:
            return None
        entry = self._api_keys.get(hash_api_key(match.group(1)))
        if entry is None or not entry.usable(self.now()):
            return None
        return Caller(entry.terminal_id, entry.role, entry.key_id, entry.key_hash,
                      entry.sign_secret)

    def close(self) -> None:
        """Close the database; idempotent."""
        self.store.close()


@cache
def _signing_key(seed: bytes) -> Ed25519PrivateKey:
    return signing_key_from_seed(seed)


def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC string, e.g. ``2026-11-26T10:30:00Z``."""
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float | None:
    """Unix seconds of an RFC 3339 UTC string ending in ``Z``; None when malformed."""
    if not isinstance(text, str) or not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", text
    ):
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()
    except ValueError:
        return None


def get_backend(request: Request) -> Backend:
    """FastAPI dependency: the app's :class:`Backend`."""
    return request.app.state.backend  # type: ignore[no-any-return]


def request_id(request: Request) -> str:
    """FastAPI dependency: this request's id (also sent as ``X-Request-Id``)."""
    return str(getattr(request.state, "request_id", "req_unknown"))


def caller_of(request: Request) -> Caller:
    """The authenticated caller (set by the request guard before the body is read), checked
    against the role table; ``401 unauthenticated`` or ``403 forbidden``."""
    caller = request.scope.get("state", {}).get("caller")
    if caller is None:
        caller = get_backend(request).authenticate(request.headers.get("authorization", ""))
        if caller is None:
            raise ApiError(401, "unauthenticated",
                           "missing or unknown API key; send 'Authorization: Bearer <key>'")
    route = request.scope.get("route")
    # The route's template, else the raw path (never request.url: building it costs more
    # than the rest of this check).
    path = getattr(route, "path", None) or request.scope["path"]
    if not allowed(caller.role, request.method, path):
        raise ApiError(403, "forbidden",
                       f"a {caller.role} key may not call {request.method} {path}")
    return caller  # type: ignore[no-any-return]


def authenticated_terminal(request: Request) -> str:
    """FastAPI dependency: the terminal id of the caller allowed to call this route."""
    return caller_of(request).terminal_id


# Largest amount one call moves (10^15 minor units): sums of many stay far inside 64 bits.
MAX_AMOUNT_MINOR = 10**15


def money_from(data: Any) -> Money:
    """Parse wire money or raise ``400 invalid_money``; amounts must be positive and at most
    :data:`MAX_AMOUNT_MINOR`."""
    try:
        money = Money.from_json(data)
    except MoneyError as exc:
        raise ApiError(400, "invalid_money", str(exc)) from None
    if not 0 < money.amount_minor <= MAX_AMOUNT_MINOR:
        raise ApiError(400, "invalid_money",
                       f"amount_minor must be a positive integer up to {MAX_AMOUNT_MINOR}")
    return money


def subject_exists(conn: sqlite3.Connection, subject_id: str) -> bool:
    """Whether ``subject_id`` is a known payer."""
    return conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?",
                        (subject_id,)).fetchone() is not None


# The dependencies FastAPI resolves are coroutines: a plain function would be run on the
# thread pool, one thread hop per dependency per request (most of a score read's cost).
async def _backend_dep(request: Request) -> Backend:
    return get_backend(request)


async def _caller_dep(request: Request) -> Caller:
    return caller_of(request)


async def _terminal_dep(request: Request) -> str:
    return caller_of(request).terminal_id


async def _request_id_dep(request: Request) -> str:
    return request_id(request)


async def on_store(backend: Backend, call: Callable[[], T]) -> T:
    """Run ``call`` (a route's database work) where the store wants it.

    On a store whose transactions are local and short (:attr:`BaseStore.inline`: a SQLite
    file), ``call`` runs on the event loop itself: it saves two thread hops and the threads'
    fight for the interpreter lock, about a third of a write request's CPU. Where its first
    transaction would wait longer than a moment for another thread of this process or a
    foreign connection, it refuses before writing anything (:class:`backend.store.StoreBusy`)
    and ``call`` runs on the thread pool instead, so a long transaction there stalls the loop
    for at most :data:`backend.store.BRIEF_WAIT_S`. PostgreSQL's calls always run on the thread
    pool (a network round trip)."""
    store = backend.store
    if store.inline:
        try:
            with store.waiting_briefly():
                return call()
        except StoreBusy:
            pass
    return await run_in_threadpool(call)


# Annotated dependencies for route signatures.
BackendDep = Annotated[Backend, Depends(_backend_dep)]
CallerDep = Annotated[Caller, Depends(_caller_dep)]
TerminalId = Annotated[str, Depends(_terminal_dep)]
RequestId = Annotated[str, Depends(_request_id_dep)]
