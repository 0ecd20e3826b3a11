"""GatewayClient against a scripted loopback server: bodies, keys, errors."""

from __future__ import annotations

import random

import pytest

from payments.clients import (
    BadArgument,
    CodeRejected,
    ConflictError,
    GatewayClient,
    PaymentDeclined,
    ProtocolError,
    ServiceSettings,
    new_idempotency_key,
)
from payments.money import Money
from tests.clients_loopback import LoopbackServer, RecordingSleep, Reply, error_body

CNY = "CNY"


def gateway(url: str) -> GatewayClient:
    settings = ServiceSettings(url=url, api_key="key_g", backoff_base_s=0.01)
    return GatewayClient(settings, sleep=RecordingSleep(), rng=random.Random(5))


def test_new_idempotency_keys_are_unique_and_well_formed() -> None:
    keys = {new_idempotency_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(k.startswith("idk_") and len(k) == 36 for k in keys)


def test_resolve_code_sends_code_and_key() -> None:
    reply = Reply(200, {"subject_id": "sub_1", "code_id": "pc_9",
                        "expires_at": "2026-11-26T10:31:00Z"})
    key = new_idempotency_key()
    with LoopbackServer([reply]) as server, gateway(server.url) as g:
        resolved = g.resolve_code("SCANPAY1.abc", key)
    request = server.received[0]
    assert (request.method, request.path) == ("POST", "/v1/payment-codes/resolve")
    assert request.json() == {"code": "SCANPAY1.abc"}
    assert request.headers["Idempotency-Key"] == key
    assert (resolved.subject_id, resolved.code_id) == ("sub_1", "pc_9")
    assert resolved.expires_at is not None and resolved.expires_at.minute == 31


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "code_malformed"), (401, "code_signature_invalid"), (410, "code_expired"),
     (409, "code_already_used")],
)
def test_refused_codes_raise_code_rejected_with_the_reason(status: int, code: str) -> None:
    with LoopbackServer([Reply(status, error_body(code, "plain words"))]) as server, \
            gateway(server.url) as g, pytest.raises(CodeRejected) as info:
        g.resolve_code("SCANPAY1.abc", new_idempotency_key())
    assert info.value.code == code
    assert len(server.received) == 1


def test_place_hold_sends_money_as_minor_units() -> None:
    reply = Reply(201, {"hold_id": "hold_1", "status": "held",
                        "amount": {"amount_minor": 19900, "currency": CNY}})
    with LoopbackServer([reply]) as server, gateway(server.url) as g:
        hold = g.place_hold("sub_1", Money(19900, CNY), "ride_1", "idk_hold0001")
    assert server.received[0].json() == {
        "subject_id": "sub_1", "amount": {"amount_minor": 19900, "currency": CNY},
        "reference": "ride_1",
    }
    assert hold.hold_id == "hold_1" and hold.amount == Money(19900, CNY)


def test_declined_hold_raises_payment_declined() -> None:
    with (
        LoopbackServer([Reply(402, error_body("payment_declined", "Not enough money"))]) as server,
        gateway(server.url) as g,
        pytest.raises(PaymentDeclined, match="Not enough money"),
    ):
        g.place_hold("sub_1", Money(19900, CNY), "ride_1", "idk_hold0001")


def test_capture_and_release_use_the_hold_path() -> None:
    replies = [Reply(200, {"hold_id": "hold_1", "status": "captured", "charge_id": "ch_1"}),
               Reply(200, {"hold_id": "hold_2", "status": "released"})]
    with LoopbackServer(replies) as server, gateway(server.url) as g:
        captured = g.capture_hold("hold_1", Money(150, CNY), "idk_cap00001")
        released = g.release_hold("hold_2", "idk_rel00001")
    assert server.received[0].path == "/v1/holds/hold_1/capture"
    assert server.received[0].json() == {"amount": {"amount_minor": 150, "currency": CNY}}
    assert server.received[1].path == "/v1/holds/hold_2/release"
    assert (captured.status, captured.charge_id) == ("captured", "ch_1")
    assert released.status == "released"


def test_capture_of_inactive_hold_is_a_conflict() -> None:
    with LoopbackServer([Reply(409, error_body("hold_not_active"))]) as server, \
            gateway(server.url) as g, pytest.raises(ConflictError) as info:
        g.capture_hold("hold_1", Money(150, CNY), "idk_cap00001")
    assert info.value.code == "hold_not_active"


def test_charge_and_refund_round_trip() -> None:
    replies = [
        Reply(201, {"charge_id": "ch_1", "status": "captured",
                    "amount": {"amount_minor": 150, "currency": CNY}}),
        Reply(201, {"refund_id": "rf_1", "charge_id": "ch_1", "status": "refunded",
                    "amount": {"amount_minor": 50, "currency": CNY}}),
    ]
    with LoopbackServer(replies) as server, gateway(server.url) as g:
        charge = g.charge("sub_1", Money(150, CNY), "ride_1", "Ride fare", "idk_chg00001")
        refund = g.refund(charge.charge_id, Money(50, CNY), "idk_ref00001")
    assert server.received[0].json()["description"] == "Ride fare"
    assert server.received[1].json() == {
        "charge_id": "ch_1", "amount": {"amount_minor": 50, "currency": CNY}
    }
    assert refund.amount == Money(50, CNY) and refund.charge_id == "ch_1"


def test_charge_retried_after_503_keeps_key_and_body() -> None:
    replies = [Reply(503, error_body("overloaded")),
               Reply(201, {"charge_id": "ch_1", "status": "captured"})]
    with LoopbackServer(replies) as server, gateway(server.url) as g:
        g.charge("sub_1", Money(150, CNY), "ride_1", "Ride fare", "idk_chg00001")
    assert len(server.received) == 2
    assert {r.headers["Idempotency-Key"] for r in server.received} == {"idk_chg00001"}
    assert server.received[0].body == server.received[1].body


@pytest.mark.parametrize(
    ("amount", "key"),
    [(Money(0, CNY), "idk_chg00001"), (Money(-5, CNY), "idk_chg00001"),
     (150, "idk_chg00001"), (Money(150, CNY), "short"), (Money(150, CNY), "has space 123")],
)
def test_bad_arguments_are_refused_before_sending(amount: object, key: str) -> None:
    with (
        LoopbackServer([Reply(201, {})]) as server,
        gateway(server.url) as g,
        pytest.raises(BadArgument),
    ):
        g.charge("sub_1", amount, "ride_1", "Ride fare", key)  # type: ignore[arg-type]
    assert server.received == []


def test_response_missing_ids_is_a_protocol_error() -> None:
    with (
        LoopbackServer([Reply(201, {"status": "held"})]) as server,
        gateway(server.url) as g,
        pytest.raises(ProtocolError, match="hold_id"),
    ):
        g.place_hold("sub_1", Money(19900, CNY), "ride_1", "idk_hold0001")
