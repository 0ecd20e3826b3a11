"""The HTTP base of the clients: retry rule, timeouts, budgets and error mapping."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from payments.clients import (
    ApiError,
    AuthenticationError,
    BadArgument,
    CodeRejected,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PaymentDeclined,
    ProtocolError,
    RetryPolicy,
    ServiceSettings,
    ServiceUnavailable,
)
from payments.clients.errors import error_from_response
from payments.clients.gateway import GatewayClient, new_idempotency_key
from payments.clients.http import HttpClient
from payments.clients.retry import parse_retry_after
from payments.errors import PaymentsError
from payments.money import Money
from tests.clients_loopback import (
    LoopbackServer,
    RecordingSleep,
    Reply,
    SilentServer,
    closed_port_url,
    error_body,
)
from tests.drip_server import DripServer


def client(url: str, sleep: RecordingSleep, **overrides: object) -> HttpClient:
    values: dict[str, object] = {
        "url": url, "api_key": "key_test", "connect_timeout_s": 1.0, "read_timeout_s": 2.0,
        "max_retries": 2, "backoff_base_s": 0.1, "backoff_max_s": 1.0,
    }
    values.update(overrides)
    return HttpClient(
        ServiceSettings(**values),  # type: ignore[arg-type]
        service="test service", sleep=sleep, rng=random.Random(7),
    )


# -- the pure retry rule ----------------------------------------------------------------------


def test_delay_stays_within_exponential_ceiling_with_full_jitter() -> None:
    policy = RetryPolicy(max_retries=5, backoff_base_s=0.5, backoff_max_s=3.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range
        assert min(delays) < ceiling * 0.2


def test_delay_never_shorter_than_retry_after() -> None:
    policy = RetryPolicy(max_retries=2, backoff_base_s=0.1, backoff_max_s=0.2)
    assert policy.delay(1, random.Random(0), retry_after=5.0) == 5.0


def test_retry_policy_refuses_bad_numbers() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="backoff_max_s"):
        RetryPolicy(backoff_base_s=2.0, backoff_max_s=1.0)
    with pytest.raises(ValueError, match="attempt"):
        RetryPolicy().delay(0, random.Random())


def test_can_retry_counts_retries_after_the_first_attempt() -> None:
    policy = RetryPolicy(max_retries=2)
    assert [policy.can_retry(n) for n in range(4)] == [True, True, False, False]


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Thu, 26 Nov 2026 10:30:04 GMT", now=now) == 4.0
    assert parse_retry_after("Thu, 26 Nov 2026 10:29:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# -- settings ---------------------------------------------------------------------------------


def test_settings_refuse_bad_url_and_timeouts() -> None:
    with pytest.raises(ValueError, match="url"):
        ServiceSettings(url="score.example.com")
    with pytest.raises(ValueError, match="read_timeout_s"):
        ServiceSettings(url="http://x", read_timeout_s=0)
    with pytest.raises(ValueError, match="max_retries"):
        ServiceSettings(url="http://x", max_retries=-1)


def test_budget_defaults_to_connect_plus_read_timeout() -> None:
    assert ServiceSettings(url="http://x", connect_timeout_s=2, read_timeout_s=5).budget_s == 7
    assert ServiceSettings(url="http://x", deadline_s=3.0).budget_s == 3.0


def test_settings_build_from_a_config_section() -> None:
    from terminal.config.schema import ServiceSection

    section = ServiceSection(url="http://a", api_key="k", max_retries=4)
    settings = ServiceSettings.from_section(section)
    assert (settings.url, settings.api_key, settings.max_retries) == ("http://a", "k", 4)
    assert ServiceSettings.from_section(section, url="http://b").url == "http://b"


# -- error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "code_malformed", CodeRejected),
        (401, "code_signature_invalid", CodeRejected),
        (410, "code_expired", CodeRejected),
        (409, "code_already_used", CodeRejected),
        (401, "unauthenticated", AuthenticationError),
        (402, "payment_declined", PaymentDeclined),
        (404, "unknown_subject", NotFoundError),
        (409, "hold_not_active", ConflictError),
        (409, "idempotency_key_reused", ConflictError),
        (422, "invalid_request", InvalidRequestError),
        (429, "rate_limited", ServiceUnavailable),
        (503, "overloaded", ServiceUnavailable),
    ],
)
def test_statuses_map_to_one_error_tree(status: int, code: str, cls: type[ApiError]) -> None:
    error = error_from_response(status, error_body(code, "plain words"), "req_9", "gateway")
    assert type(error) is cls
    assert isinstance(error, PaymentsError)
    assert (error.http_status, error.code, error.message, error.request_id) == (
        status, code, "plain words", "req_9",
    )
    assert "plain words" in str(error) and "req_9" in str(error)


def test_error_without_json_body_still_has_a_code() -> None:
    error = error_from_response(502, None, None, "gateway")
    assert isinstance(error, ServiceUnavailable)
    assert error.code == "http_502"


# -- calls over loopback ----------------------------------------------------------------------


def test_get_retries_503_twice_then_succeeds_with_recorded_backoff() -> None:
    replies = [Reply(503, error_body("overloaded")), Reply(503, error_body("overloaded")),
               Reply(200, {"ok": True})]
    sleep = RecordingSleep()
    with LoopbackServer(replies) as server, client(server.url, sleep) as http:
        response = http.request("GET", "/v1/thing")
    assert response.body == {"ok": True}
    assert response.attempts == 3
    assert len(server.received) == 3
    assert len(sleep.calls) == 2
    assert 0 <= sleep.calls[0] <= 0.1 and 0 <= sleep.calls[1] <= 0.2
    assert server.received[0].headers["Authorization"] == "Bearer key_test"


def test_gives_up_after_max_retries_with_the_last_status() -> None:
    sleep = RecordingSleep()
    with (
        LoopbackServer([Reply(500, error_body("internal", "it broke"))]) as server,
        client(server.url, sleep, max_retries=1) as http,
        pytest.raises(ServiceUnavailable) as info,
    ):
        http.request("GET", "/v1/thing")
    assert info.value.http_status == 500
    assert info.value.code == "internal"
    assert info.value.attempts == 2
    assert len(server.received) == 2


def test_post_without_key_is_not_retried() -> None:
    sleep = RecordingSleep()
    with LoopbackServer([Reply(503, error_body("overloaded"))]) as server, \
            client(server.url, sleep) as http, pytest.raises(ServiceUnavailable):
        http.request("POST", "/v1/thing", json_body={"a": 1})
    assert len(server.received) == 1
    assert sleep.calls == []


def test_idempotency_key_is_identical_on_every_retry() -> None:
    replies = [Reply(502, raw=b"<html>bad gateway</html>"), Reply(503, error_body("x")),
               Reply(201, {"done": True})]
    with LoopbackServer(replies) as server, client(server.url, RecordingSleep()) as http:
        http.request("POST", "/v1/holds", json_body={"a": 1}, idempotency_key="idk_abcdef12")
    keys = [r.headers["Idempotency-Key"] for r in server.received]
    assert keys == ["idk_abcdef12"] * 3
    assert {r.body for r in server.received} == {b'{"a":1}'}


def test_client_errors_are_not_retried() -> None:
    sleep = RecordingSleep()
    declined = Reply(402, error_body("payment_declined", "Insufficient funds"))
    with (
        LoopbackServer([declined]) as server,
        client(server.url, sleep) as http,
        pytest.raises(PaymentDeclined, match="Insufficient funds"),
    ):
        http.request("POST", "/v1/charges", json_body={}, idempotency_key="idk_12345678")
    assert len(server.received) == 1


def test_429_honours_retry_after_as_the_wait() -> None:
    replies = [Reply(429, error_body("rate_limited"), headers={"Retry-After": "1"}),
               Reply(200, {"ok": True})]
    sleep = RecordingSleep()
    with LoopbackServer(replies) as server, client(server.url, sleep, deadline_s=30.0) as http:
        http.request("GET", "/v1/thing")
    assert sleep.calls == [1.0]


def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    sleep = RecordingSleep()
    replies = [Reply(503, error_body("maintenance"), headers={"Retry-After": "30"})]
    with (
        LoopbackServer(replies) as server,
        client(server.url, sleep) as http,
        pytest.raises(ServiceUnavailable) as info,
    ):
        http.request("GET", "/v1/thing")
    assert info.value.code == "maintenance"
    assert sleep.calls == []
    assert len(server.received) == 1


def test_connection_refused_is_retried_then_service_unavailable_with_cause() -> None:
    sleep = RecordingSleep()
    with client(closed_port_url(), sleep) as http, pytest.raises(ServiceUnavailable) as info:
        http.request("GET", "/v1/thing")
    assert info.value.code == "network_error"
    assert info.value.http_status is None
    assert info.value.cause is not None
    assert info.value.attempts == 3
    assert len(sleep.calls) == 2


def test_silent_server_fails_with_timeout_error_within_budget() -> None:
    sleep = RecordingSleep()
    with (
        SilentServer() as server,
        client(server.url, sleep, connect_timeout_s=0.2, read_timeout_s=0.3) as http,
        pytest.raises(ServiceUnavailable) as info,
    ):
        http.request("GET", "/v1/thing")
    assert info.value.code in ("timeout", "deadline_exceeded")
    # Retries only start when they fit the 0.5 s budget.
    assert sum(sleep.calls) < 0.5
    assert info.value.attempts == len(sleep.calls) + 1


def test_2xx_without_json_object_is_a_protocol_error() -> None:
    with LoopbackServer([Reply(200, raw=b"not json")]) as server, \
            client(server.url, RecordingSleep()) as http, pytest.raises(ProtocolError):
        http.request("GET", "/v1/thing")
    assert len(server.received) == 1


def test_oversized_body_is_a_protocol_error() -> None:
    big = b'{"x": "' + b"a" * (1 << 21) + b'"}'
    with (
        LoopbackServer([Reply(200, raw=big)]) as server,
        client(server.url, RecordingSleep()) as http,
        pytest.raises(ProtocolError, match="more than"),
    ):
        http.request("GET", "/v1/thing")


def test_closed_client_refuses_calls_and_close_is_idempotent() -> None:
    http = client("http://127.0.0.1:9", RecordingSleep())
    http.close()
    http.close()
    with pytest.raises(BadArgument, match="closed"):
        http.request("GET", "/v1/thing")


def test_settings_repr_does_not_leak_the_api_key() -> None:
    assert "s3cret" not in repr(ServiceSettings(url="http://x", api_key="s3cret"))


# -- budgets hold against a server that drips its answer ---------------------------------------


def _call_in_thread(call: Callable[[], object], limit_s: float) -> BaseException | object:
    """Run ``call``; fail the test if it is still running after ``limit_s`` (it hung)."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit_s)
    assert not worker.is_alive(), f"the call outlived {limit_s:.0f} s (its budget leaked)"
    return outcome[0]


@pytest.mark.parametrize("part", ["body", "headers"])
def test_a_dripping_answer_ends_with_a_timeout_inside_the_budget(part: str) -> None:
    # 4,000 bytes at one byte per 50 ms would take 200 s; the budget is 1 s.
    with DripServer(part=part, interval_s=0.05, body_bytes=4000) as server:
        http = client(server.url, RecordingSleep(), deadline_s=1.0, read_timeout_s=2.0)
        with http:
            failure = _call_in_thread(lambda: http.request("GET", "/v1/scores/x"), 5.0)
        assert isinstance(failure, ServiceUnavailable), failure
        assert failure.code == "timeout"
        assert server.requests == 1  # no retry started once the budget was spent
        assert server.hung_up.wait(5), "the client kept the dripping connection open"


def test_a_dripping_hold_through_the_gateway_client_fails_within_its_budget() -> None:
    with DripServer(part="body", interval_s=0.05, body_bytes=4000) as server:
        settings = ServiceSettings(url=server.url, api_key="key_test", deadline_s=1.0,
                                   max_retries=2, backoff_base_s=0.05)
        with GatewayClient(settings, sleep=RecordingSleep()) as gateway:
            failure = _call_in_thread(lambda: gateway.place_hold(
                "rider-low", Money(19900, "CNY"), "ride_1", new_idempotency_key()), 5.0)
    assert isinstance(failure, ServiceUnavailable) and failure.code == "timeout"


def test_the_guard_counts_the_budget_on_the_injected_clock() -> None:
    # The injected clock says 9.7 s of the 10 s budget went by before the attempt started,
    # so the drip is cut after 0.3 s of real time, not after 10 s.
    readings = iter([100.0, 109.7])

    def clock() -> float:
        return next(readings, 109.7)

    with DripServer(part="body", interval_s=0.05, body_bytes=4000) as server:
        http = HttpClient(ServiceSettings(url=server.url, deadline_s=10.0, read_timeout_s=20.0),
                          service="test service", sleep=RecordingSleep(), clock=clock)
        with http:
            failure = _call_in_thread(lambda: http.request("GET", "/v1/x"), 5.0)
    assert isinstance(failure, ServiceUnavailable) and failure.code == "timeout"


def test_a_connection_reused_after_a_guarded_call_is_not_shut_later() -> None:
    with LoopbackServer([Reply(200, {"ok": True})]) as server, \
            client(server.url, RecordingSleep(), deadline_s=0.3) as http:
        for _ in range(3):  # each call would be cut if an earlier guard fired late
            assert http.request("GET", "/v1/thing").body == {"ok": True}
            time.sleep(0.15)
        assert len(server.received) == 3
