"""The clients, policy and uploader against the real reference back end on loopback."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend.server import BackendServer
from backend.settings import BackendSettings
from payments.clients import (
    AuthenticationError,
    CodeRejected,
    ConflictError,
    GatewayClient,
    NotFoundError,
    PaymentDeclined,
    ScoreClient,
    ServiceSettings,
    new_idempotency_key,
)
from payments.events import make_event
from payments.money import Money
from payments.outbox import Outbox
from payments.policy import DepositRules, decide_deposit
from payments.uploader import Uploader
from tests.clients_loopback import RecordingSleep

TERMINAL = "emu-bike-0001"
DEPOSIT = Money(19900, "CNY")


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings()) as running:
        yield running


@pytest.fixture
def settings(server: BackendServer) -> ServiceSettings:
    return ServiceSettings(url=server.url, api_key=server.api_key_for(TERMINAL))


@pytest.fixture
def gateway(settings: ServiceSettings) -> Iterator[GatewayClient]:
    with GatewayClient(settings, sleep=RecordingSleep(), rng=random.Random(1)) as client:
        yield client


@pytest.fixture
def scores(settings: ServiceSettings) -> Iterator[ScoreClient]:
    with ScoreClient(settings, sleep=RecordingSleep(), rng=random.Random(1)) as client:
        yield client


def issue_code(server: BackendServer, subject_id: str) -> str:
    response = requests.post(
        f"{server.url}/v1/dev/payment-codes", json={"subject_id": subject_id, "ttl_s": 60},
        headers={"Authorization": f"Bearer {server.api_key_for(TERMINAL)}"}, timeout=5,
    )
    response.raise_for_status()
    return response.json()["code"]


@pytest.mark.parametrize(
    ("subject", "outcome", "first_reason"),
    [("rider-good", "waived", "score_above_threshold"),
     ("rider-low", "required", "score_below_threshold"),
     ("rider-blacklisted", "declined", "court_blacklist")],
)
def test_seeded_subjects_get_the_expected_deposit_decision(
    scores: ScoreClient, subject: str, outcome: str, first_reason: str
) -> None:
    report = scores.get_score(subject)
    decision = decide_deposit(DepositRules(), report, offline=False)
    assert decision.outcome == outcome
    # The decision's summary names the threshold; a restriction is itself the reason.
    assert first_reason in (decision.headline.code, decision.reasons[0].code)
    assert len(decision.reasons) <= 4


def test_unknown_subject_and_wrong_key(scores: ScoreClient, server: BackendServer) -> None:
    with pytest.raises(NotFoundError):
        scores.get_score("rider-nobody")
    with (
        ScoreClient(ServiceSettings(url=server.url, api_key="wrong")) as stranger,
        pytest.raises(AuthenticationError),
    ):
        stranger.get_score("rider-good")


def test_code_resolves_once_and_replays_for_the_same_key(
    gateway: GatewayClient, server: BackendServer
) -> None:
    code = issue_code(server, "rider-good")
    key = new_idempotency_key()
    first = gateway.resolve_code(code, key)
    assert first.subject_id == "rider-good"
    assert gateway.resolve_code(code, key) == first  # a retry of the same attempt
    with pytest.raises(CodeRejected) as info:
        gateway.resolve_code(code, new_idempotency_key())
    assert info.value.code == "code_already_used"


def test_garbage_code_is_rejected(gateway: GatewayClient) -> None:
    with pytest.raises(CodeRejected):
        gateway.resolve_code("not-a-payment-code", new_idempotency_key())


def prove(server: BackendServer, gateway: GatewayClient, subject_id: str) -> None:
    """Scan the payer's code: a terminal holds or charges only a payer it has seen."""
    gateway.resolve_code(issue_code(server, subject_id), new_idempotency_key())


def test_hold_capture_refund_cycle(server: BackendServer, gateway: GatewayClient) -> None:
    prove(server, gateway, "rider-low")
    key = new_idempotency_key()
    hold = gateway.place_hold("rider-low", DEPOSIT, "ride_int_1", key)
    assert gateway.place_hold("rider-low", DEPOSIT, "ride_int_1", key).hold_id == hold.hold_id
    captured = gateway.capture_hold(hold.hold_id, Money(300, "CNY"), new_idempotency_key())
    assert captured.status == "captured" and captured.charge_id
    with pytest.raises(ConflictError):
        gateway.release_hold(hold.hold_id, new_idempotency_key())
    refund = gateway.refund(captured.charge_id, Money(100, "CNY"), new_idempotency_key())
    assert refund.amount == Money(100, "CNY")


def test_hold_release_and_charge(server: BackendServer, gateway: GatewayClient) -> None:
    prove(server, gateway, "rider-good")
    hold = gateway.place_hold("rider-good", DEPOSIT, "ride_int_2", new_idempotency_key())
    assert gateway.release_hold(hold.hold_id, new_idempotency_key()).status == "released"
    charge = gateway.charge("rider-good", Money(150, "CNY"), "ride_int_2", "Ride fare",
                            new_idempotency_key())
    assert charge.status == "captured" and charge.amount == Money(150, "CNY")


def test_empty_wallet_is_declined(server: BackendServer, gateway: GatewayClient) -> None:
    prove(server, gateway, "rider-broke")
    with pytest.raises(PaymentDeclined):
        gateway.place_hold("rider-broke", DEPOSIT, "ride_int_3", new_idempotency_key())


def test_reusing_a_key_with_another_body_is_a_conflict(server: BackendServer,
                                                       gateway: GatewayClient) -> None:
    prove(server, gateway, "rider-good")
    key = new_idempotency_key()
    gateway.charge("rider-good", Money(150, "CNY"), "ride_int_4", "Ride fare", key)
    with pytest.raises(ConflictError):
        gateway.charge("rider-good", Money(151, "CNY"), "ride_int_4", "Ride fare", key)


def test_uploader_delivers_to_the_back_end_and_redelivery_is_harmless(
    server: BackendServer, gateway: GatewayClient, scores: ScoreClient, tmp_path: Path
) -> None:
    prove(server, gateway, "rider-good")  # events name only riders this terminal served
    events = [make_event("ride.ended", terminal_id=TERMINAL, subject_id="rider-good",
                         attributes={"ride_id": f"ride_up_{i}", "minutes": i})
              for i in range(7)]
    with Outbox(tmp_path / "o.db") as box:
        for e in events:
            box.append(e)
        result = Uploader(box, scores, batch_size=3).flush(deadline_s=10.0)
        assert (result.delivered, result.pending, result.batches) == (7, 0, 3)
    again = scores.upload_events(events[:2])
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, ())


def test_event_from_another_terminal_is_rejected_and_dropped(
    scores: ScoreClient, tmp_path: Path
) -> None:
    foreign = make_event("ride.ended", terminal_id="someone-else", subject_id=None)
    with Outbox(tmp_path / "o.db") as box:
        box.append(foreign)
        report = Uploader(box, scores).run_once()
        assert report.rejected == 1
        assert box.counts().dropped == 1
