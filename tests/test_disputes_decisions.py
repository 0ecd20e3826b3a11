"""Decisions from the back end's factor data: the event ids and origins behind each reason
reach the policy unchanged, and the dispute story turns rider-low's deposit into none."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.seed import DEMO_SUBJECTS, WRONG_PARKING_EVENT_ID
from hardware.emulated.clock import ManualClock
from payments.clients.score import parse_score
from payments.paycode import issue_code
from payments.policy import DepositRules, decide_deposit

BIKE = "bike-0303"


@pytest.fixture(scope="module")
def server() -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=ManualClock(1_795_689_000.0))) as srv:
        yield srv


def _read(server: BackendServer, subject: str) -> tuple[dict[str, Any], Any]:
    resp = requests.get(f"{server.url}/v1/subjects/{subject}/score?purpose=deposit_decision",
                        headers={"Authorization": f"Bearer {server.api_key_for(BIKE)}"},
                        timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json(), parse_score(resp.json(), subject, None)


@pytest.mark.parametrize("subject", [s.subject_id for s in DEMO_SUBJECTS])
@pytest.mark.parametrize("rules", [DepositRules(), DepositRules(waive_at_score=900),
                                   DepositRules(waive_at_score=951, decline_below_score=900)],
                         ids=["default", "strict", "minimum"])
def test_every_decision_has_at_most_four_reasons_naming_scored_factors(
        server: BackendServer, subject: str, rules: DepositRules) -> None:
    body, report = _read(server, subject)
    decision = decide_deposit(rules, report, offline=False)
    assert 1 <= len(decision.reasons) <= 4
    factors = {f["code"]: f for f in body["factors"]}
    restrictions = {r["code"]: r for r in body["restrictions"]}
    for reason in decision.reasons:
        if reason.code in restrictions:
            assert reason.origin and restrictions[reason.code]["origin"]["reference"] in \
                reason.origin
            continue
        factor = factors[reason.code]
        assert reason.points == factor["points"]
        assert list(reason.event_ids) == factor["event_ids"]


def test_the_dispute_story_turns_a_deposit_into_none(server: BackendServer) -> None:
    rules = DepositRules()
    _, before = _read(server, "rider-low")
    first = decide_deposit(rules, before, offline=False)
    assert first.outcome == "required" and first.reasons[0].code == "parking_violations"
    assert WRONG_PARKING_EVENT_ID in first.reasons[0].event_ids
    code = issue_code("rider-low", signing_key=server.backend.signing_key,
                      now=server.backend.now(), ttl_s=60)
    token = requests.post(f"{server.url}/v1/person/sessions", json={"code": code},
                          timeout=5).json()["token"]
    dispute = requests.post(f"{server.url}/v1/person/disputes", timeout=5,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"item": {"kind": "event", "id": WRONG_PARKING_EVENT_ID},
                                  "reason": "That was a legal bike bay."}).json()
    operator = {"Authorization": f"Bearer {server.api_key_for('operator-0303')}",
                "Idempotency-Key": uuid.uuid4().hex}
    decided = requests.post(f"{server.url}/v1/disputes/{dispute['dispute_id']}/decision",
                            json={"outcome": "corrected", "note": "legal bay"},
                            headers=operator, timeout=5)
    assert decided.status_code == 200, decided.text
    _, after = _read(server, "rider-low")
    assert after.score == 650
    assert decide_deposit(rules, after, offline=False).outcome == "waived"
