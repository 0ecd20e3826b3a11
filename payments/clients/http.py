"""The HTTP base of the back-end clients: one session, explicit timeouts, bounded retries.

Every call has an overall budget (``ServiceSettings.budget_s``): connect and read timeouts of
each attempt are clamped to what is left of it, and no retry starts that could not finish
inside it. A read timeout alone only bounds the wait for *each* byte, so a server that drips
its status line, headers or body a byte at a time could stretch a call without end; a
deadline guard therefore shuts the attempt's socket down when the budget runs out, which ends
any read in progress. So a call never outlives its budget (name resolution aside: it runs
before there is a socket to shut).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from payments.clients.errors import (
    BadArgument,
    ProtocolError,
    ServiceUnavailable,
    error_from_response,
    is_retryable_status,
)
from payments.clients.retry import MAX_RETRY_AFTER_S, RetryPolicy, parse_retry_after
from payments.clients.signing import sign_request

logger = logging.getLogger(__name__)

# Largest response body accepted; the API's bodies are a few kilobytes.
MAX_BODY_BYTES = 1 << 20
USER_AGENT = "scanpay-terminal/0.1"

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class ServiceSettings:
    """How to reach one back-end service, and how patiently."""

    url: str
    # Kept out of repr() so settings can be logged without leaking the key.
    api_key: str = field(default="", repr=False)
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    # Retries of idempotent calls after the first attempt.
    max_retries: int = 2
    backoff_base_s: float = 0.2
    backoff_max_s: float = 2.0
    # Overall budget of one call including retries; 0 means connect + read timeout.
    deadline_s: float = 0.0
    # Sign every attempt (HMAC over method, path, time, a fresh nonce and the body; see
    # payments.clients.signing), as a back end serving with --require-signatures demands.
    sign_requests: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"service url must be http(s)://host[:port], got {self.url!r}")
        for name in ("connect_timeout_s", "read_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not (math.isfinite(self.deadline_s) and self.deadline_s >= 0):
            raise ValueError(f"deadline_s must be >= 0, got {self.deadline_s!r}")
        RetryPolicy(self.max_retries, self.backoff_base_s, self.backoff_max_s)  # validates them

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry rule these settings describe."""
        return RetryPolicy(self.max_retries, self.backoff_base_s, self.backoff_max_s)

    @property
    def budget_s(self) -> float:
        """Seconds one call may take in total, retries included."""
        return self.deadline_s or (self.connect_timeout_s + self.read_timeout_s)

    @classmethod
    def from_section(cls, section: Any, *, url: str | None = None) -> ServiceSettings:
        """Build from a config section with the same field names (``url`` overrides)."""
        return cls(
            url=url if url is not None else section.url,
            api_key=section.api_key,
            connect_timeout_s=section.connect_timeout_s,
            read_timeout_s=section.read_timeout_s,
            max_retries=section.max_retries,
            backoff_base_s=section.backoff_base_s,
            backoff_max_s=section.backoff_max_s,
            deadline_s=getattr(section, "deadline_s", 0.0),
            sign_requests=bool(getattr(section, "sign_requests", False)),
        )


@dataclass(frozen=True)
class ApiResponse:
    """A successful (2xx) response: status, JSON object body and the request id."""

    status: int
    body: dict[str, Any]
    request_id: str | None
    attempts: int


class _Retryable(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, error: ServiceUnavailable, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _DeadlineGuard:
    """Shuts down the sockets one attempt uses when its time is up, ending any blocked read.

    Armed per attempt around the request and the body read; the connection pools of
    :class:`_GuardedAdapter` hand it each connection they lend out on this thread.
    """

    _active = threading.local()

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._done = False
        self.fired = False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    @classmethod
    def current(cls) -> _DeadlineGuard | None:
        """The guard armed on this thread, if any."""
        return getattr(cls._active, "guard", None)

    def __enter__(self) -> _DeadlineGuard:
        self._active.guard = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
            self._connections.clear()
        self._timer.cancel()
        self._active.guard = None

    def watch(self, connection: Any) -> None:
        """Shut ``connection`` down too if the time runs out (at once if it has)."""
        with self._lock:
            if self._done:
                return
            self._connections.append(connection)
            if self.fired:
                _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for connection in self._connections:
                _shut(connection)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    # socket.socket's own shutdown: for TLS too, without SSLSocket's bookkeeping, which the
    # reading thread still uses. OSError: already closed.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _GuardedHTTPPool(HTTPConnectionPool):
    """An HTTP pool that shows each connection it lends to this thread's deadline guard."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        guard = _DeadlineGuard.current()
        if guard is not None:
            guard.watch(connection)
        return connection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    """The HTTPS twin of :class:`_GuardedHTTPPool`."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        guard = _DeadlineGuard.current()
        if guard is not None:
            guard.watch(connection)
        return connection


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter with pools whose connections the deadline guard can shut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool, "https": _GuardedHTTPSPool,
        }


class HttpClient:
    """JSON-over-HTTP calls to one service with auth, timeouts, retries and error mapping.

    A session passed in is used as it is; the deadline guard needs the client's own session
    (or one with :class:`_GuardedAdapter` mounted) to cut a dripping answer short.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        service: str = "service",
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.service = service
        self._policy = settings.retry_policy
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # No proxies or .netrc credentials picked up from the environment.
            session.trust_env = False
            session.mount("http://", _GuardedAdapter())
            session.mount("https://", _GuardedAdapter())
        self._session = session
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self._closed = False

    def close(self) -> None:
        """Close the session if this client created it; safe to call twice."""
        if not self._closed:
            self._closed = True
            if self._owns_session:
                self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
    ) -> ApiResponse:
        """Send one call; retry it when idempotent; raise an :class:`ApiError` on failure.

        ``idempotent`` defaults to True for GET and for calls carrying an idempotency key.
        """
        if self._closed:
            raise BadArgument(f"the {self.service} client is closed")
        retry = idempotent if idempotent is not None else (
            method == "GET" or idempotency_key is not None
        )
        url = self.settings.url.rstrip("/") + path
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        data = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(json_body, separators=(",", ":")).encode()
        deadline = self._clock() + self.settings.budget_s
        retries = 0
        while True:
            try:
                status, body, request_id = self._attempt(method, url, headers, data, deadline)
                return ApiResponse(status, body, request_id, retries + 1)
            except _Retryable as failure:
                error = failure.error
                error.attempts = retries + 1
                if not retry or not self._policy.can_retry(retries):
                    raise error from error.cause
                if failure.retry_after is not None and failure.retry_after > MAX_RETRY_AFTER_S:
                    raise error from error.cause
                wait = self._policy.delay(retries + 1, self._rng, failure.retry_after)
                if self._clock() + wait >= deadline:
                    logger.warning(
                        "%s %s %s: giving up, no time left in the %.1f s budget (%s)",
                        self.service, method, path, self.settings.budget_s, error.code,
                    )
                    raise error from error.cause
                retries += 1
                logger.info(
                    "%s %s %s failed (%s); retry %d/%d in %.2f s",
                    self.service, method, path, error.code, retries,
                    self._policy.max_retries, wait,
                )
                self._sleep(wait)

    def _attempt(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        deadline: float,
    ) -> tuple[int, dict[str, Any], str | None]:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise _Retryable(self._unavailable("deadline_exceeded", "no time left", None))
        timeout = (
            min(self.settings.connect_timeout_s, remaining),
            min(self.settings.read_timeout_s, remaining),
        )
        if self.settings.sign_requests:  # a fresh nonce and time for every attempt
            headers = {**headers, **sign_request(self.settings.api_key, method, url, data)}
        with _DeadlineGuard(remaining) as guard:
            try:
                return self._exchange(method, url, headers, data, timeout, deadline)
            except (_Retryable, ProtocolError) as failure:
                if not guard.fired:
                    raise
                # The guard cut the answer short: whatever broke, the budget ran out.
                error = failure.error if isinstance(failure, _Retryable) else failure
                cause = error.cause if isinstance(error, ServiceUnavailable) else None
                raise _Retryable(self._unavailable(
                    "timeout", "did not finish its answer within the budget", cause,
                    error.request_id)) from None

    def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        timeout: tuple[float, float],
        deadline: float,
    ) -> tuple[int, dict[str, Any], str | None]:
        try:
            response = self._session.request(
                method, url, headers=headers, data=data, timeout=timeout, stream=True,
                allow_redirects=False,
            )
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader) as exc:
            raise BadArgument(f"cannot call {self.service} at {url}: {exc}") from None
        except requests.exceptions.Timeout as exc:
            raise _Retryable(self._unavailable("timeout", "did not answer in time", exc)) from None
        except requests.exceptions.RequestException as exc:
            raise _Retryable(
                self._unavailable("network_error", "could not be reached", exc)
            ) from None
        with response:
            request_id = response.headers.get("X-Request-Id")
            raw = self._read_body(response, deadline, request_id)
            status = response.status_code
            body = _decode_json(raw)
            if 200 <= status < 300:
                if not isinstance(body, dict):
                    raise ProtocolError(
                        status, "bad_response",
                        f"{self.service} answered {status} without a JSON object body",
                        request_id,
                    )
                return status, body, request_id
            error = error_from_response(status, body, request_id, self.service)
            if is_retryable_status(status) and isinstance(error, ServiceUnavailable):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise _Retryable(error, retry_after)
            raise error

    def _read_body(
        self, response: requests.Response, deadline: float, request_id: str | None
    ) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=16384):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ProtocolError(
                        response.status_code, "response_too_large",
                        f"{self.service} sent more than {MAX_BODY_BYTES} bytes", request_id,
                    )
                if self._clock() > deadline:
                    raise _Retryable(self._unavailable(
                        "timeout", "sent its answer too slowly", None, request_id))
        except requests.exceptions.RequestException as exc:
            raise _Retryable(self._unavailable(
                "network_error", "broke off its answer", exc, request_id)) from None
        return b"".join(chunks)

    def _unavailable(
        self, code: str, what: str, cause: BaseException | None, request_id: str | None = None
    ) -> ServiceUnavailable:
        detail = f": {type(cause).__name__}" if cause is not None else ""
        return ServiceUnavailable(
            None, code, f"{self.service} {what}{detail}", request_id, cause=cause
        )


def _decode_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None



class ServiceClient:
    """Base of the service clients: one :class:`HttpClient`, closed with the client."""

    #: The service's name in error messages.
    SERVICE: ClassVar[str] = "service"

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._http = HttpClient(settings, service=self.SERVICE, session=session, sleep=sleep,
                                rng=rng, clock=clock)

    def close(self) -> None:
        """Release the connection pool; safe to call twice."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
