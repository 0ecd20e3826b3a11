"""The request guard: size limit, authentication and JSON sanity before any route runs.

In this order, for every HTTP request:

1. A ``Content-Length`` over the limit is ``413 request_too_large`` at once.
2. Every route except the public ones needs a known API key (``401 unauthenticated``); a
   request that fails here never has its body read.
3. The body is read up to the limit (a chunked body is counted while it streams and cut off
   with ``413``), then screened: it must be UTF-8, and JSON in it may hold no lone surrogate,
   no ``NaN``/``Infinity`` and no integer outside SQLite's 64-bit range (``422 invalid_value``).
   Anything else malformed is left to the route's own validation (``400 invalid_request``).
4. A request signature (:mod:`payments.clients.signing`) is checked over the body read;
   required when ``BackendSettings.require_signatures`` is on (``401 signature_*``).

The route then gets the same body from memory. A refused request that still has body bytes
in flight is answered with ``Connection: close`` so the server stops reading.
"""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.context import Backend, on_store
from backend.idempotency import error_body
from backend.roles import PERSON_PATHS
from backend.signatures import SCHEMA_SQL as NONCES_SQL
from backend.signatures import LocalNonces, SignatureChecker, StoredNonces

# Routes anyone may call without a key (no body is ever accepted on them).
PUBLIC_PATHS = frozenset({"/v1/health", "/docs", "/docs/oauth2-redirect", "/openapi.json",
                          "/redoc", "/gbfs/vehicle_status.json"})
# The operator console (/console) authenticates people by its own session cookie and CSRF
# tokens (backend/console), not by API keys; the size limit still applies to it.
PUBLIC_PREFIXES = ("/static/", "/console/")
CONSOLE_ROOT = "/console"
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class InvalidValue(ValueError):
    """A JSON value the back end cannot store (out-of-range integer, non-finite number)."""


def is_public(path: str) -> bool:
    """Whether ``path`` is served without an API key."""
    return path in PUBLIC_PATHS or path == CONSOLE_ROOT or path.startswith(PUBLIC_PREFIXES)


def screen_json(body: bytes) -> tuple[int, str, str] | None:
    """``(status, code, message)`` refusing a body, or None when it is fine or not JSON at all
    (the route's own validation answers that)."""
    # Fast path: orjson accepts only valid UTF-8 JSON without lone surrogates or NaN; what it
    # accepts is fine unless it holds an integer past 64 bits (which it turns into a float),
    # and such an integer has at least 19 digits. Anything else takes the exact path below.
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        if _LONG_DIGITS.search(body) is None:
            return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, "invalid_request", f"the body is not UTF-8 (bad byte at {exc.start})"
    try:
        data = json.loads(text, parse_int=_checked_int, parse_constant=_no_constant)
    except InvalidValue as exc:
        return 422, "invalid_value", str(exc)
    except (ValueError, RecursionError):
        return None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return (422, "invalid_value",
                "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")
    return None


_LONG_DIGITS = re.compile(rb"\d{19,}")


def _checked_int(text: str) -> int:
    if len(text) > 20:
        raise InvalidValue("an integer is outside the 64-bit range")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidValue(f"integer {text} is outside the 64-bit range")
    return value


def _no_constant(name: str) -> Any:
    raise InvalidValue(f"{name} is not a JSON number")


class RequestGuard:
    """ASGI middleware applying the size limit, authentication and JSON screening."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend
        self.limit = backend.settings.max_body_bytes
        shared = backend.settings.shared_nonces
        if shared is None:
            shared = backend.store.shared
        self.stored_nonces = shared
        self.signatures = SignatureChecker(
            backend.now, required=backend.settings.require_signatures,
            nonces=StoredNonces(backend.store.companion("nonces", NONCES_SQL)) if shared
            else LocalNonces())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await self._refuse(scope, send, 400, "invalid_request",
                                   "Content-Length must be a number", close=True)
                return
            if int(length) > self.limit:
                await self._refuse(scope, send, 413, "request_too_large",
                                   f"the body is larger than {self.limit} bytes", close=True)
                return
        if is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        # A person's routes carry the person's report token (checked by the route), not a key.
        person = scope["path"] in PERSON_PATHS
        caller = None if person else self.backend.authenticate(
            headers.get(b"authorization", b"").decode("latin-1"))
        if caller is None and not person:
            await self._refuse(scope, send, 401, "unauthenticated",
                               "missing or unknown API key; send 'Authorization: Bearer <key>'",
                               close=self._body_expected(scope, length))
            return
        if caller is not None:
            scope.setdefault("state", {})["caller"] = caller
        body = b""
        if scope["method"] in _BODY_METHODS:
            read = await self._read(receive)
            if read is None:
                await self._refuse(scope, send, 413, "request_too_large",
                                   f"the body is larger than {self.limit} bytes", close=True)
                return
            body = read
        query = scope.get("query_string", b"").decode("latin-1")
        refusal = None
        if caller is not None:
            check = partial(
                self.signatures.check, key_hash=caller.key_hash, secret=caller.sign_secret,
                method=scope["method"], headers=headers, body=body,
                target=scope.get("raw_path", scope["path"].encode()).decode("latin-1")
                + (f"?{query}" if query else ""))
            # Nonces kept in the store are a write: where the store wants it (inline on
            # SQLite unless another writer is busy; PostgreSQL on the thread pool).
            refusal = await on_store(self.backend, check) \
                if self.stored_nonces and self.signatures.signed(headers) else check()
        if refusal is None and body:
            refusal = screen_json(body)
        if refusal is not None:
            await self._refuse(scope, send, *refusal)
            return
        if scope["method"] in _BODY_METHODS:
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # disconnected: hand what arrived to the route, which will fail on it
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _body_expected(scope: Scope, length: bytes | None) -> bool:
        if length is not None:
            return int(length) > 0
        return scope["method"] in _BODY_METHODS

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str,
                      *, close: bool = False) -> None:
        req_id = str(scope.get("state", {}).get("request_id", "req_unknown"))
        payload = json.dumps(error_body(code, message, req_id)).encode("utf-8")
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(payload)).encode("ascii"))]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
