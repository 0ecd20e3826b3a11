"""Payment gateway over real loopback HTTP: codes, holds, charges, refunds, idempotency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from hardware.emulated.clock import ManualClock
from payments.paycode import (
    PaymentCodeError,
    issue_code,
    parse_code,
    public_key_from_bytes,
    signing_key_from_seed,
    verify_signature,
)

START = 1_795_689_000.0
CLOCK = ManualClock(START)


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=CLOCK)) as srv:
        yield srv


class Api:
    """A terminal's view of the gateway: auth header and fresh idempotency keys."""

    def __init__(self, server: BackendServer, terminal_id: str) -> None:
        self.url = server.url
        self.auth = {"Authorization": f"Bearer {server.api_key_for(terminal_id)}"}

    def post(self, path: str, body: Any = None, key: str | None = None) -> requests.Response:
        headers = {**self.auth, "Idempotency-Key": key or uuid.uuid4().hex}
        if path in ("/v1/holds", "/v1/charges") and isinstance(body, dict) \
                and isinstance(body.get("subject_id"), str):
            self.prove(body["subject_id"])
        return requests.post(f"{self.url}{path}", json=body if body is not None else {},
                             headers=headers, timeout=5)

    def prove(self, subject: str) -> None:
        """Resolve a fresh code of ``subject``: the payer is present at this terminal."""
        code = self.post("/v1/dev/payment-codes", {"subject_id": subject, "ttl_s": 60})
        if code.status_code != 201:
            return  # an unknown subject: let the call under test answer for it
        resolved = self.post("/v1/payment-codes/resolve", {"code": code.json()["code"]})
        assert resolved.status_code == 200, resolved.text

    def new_subject(self, balance_minor: int) -> str:
        subject = f"sub_{uuid.uuid4().hex[:12]}"
        resp = self.post("/v1/dev/subjects", {"subject_id": subject,
                                              "balance_minor": balance_minor})
        assert resp.status_code == 201, resp.text
        return subject

    def available(self, subject: str) -> int:
        resp = requests.get(f"{self.url}/v1/dev/subjects", headers=self.auth, timeout=5)
        row = next(s for s in resp.json()["subjects"] if s["subject_id"] == subject)
        return int(row["available"]["amount_minor"])


@pytest.fixture(scope="module")
def api(server: BackendServer) -> Api:
    return Api(server, "bike-0007")


def _cny(amount: int) -> dict[str, Any]:
    return {"amount_minor": amount, "currency": "CNY"}


def _error(resp: requests.Response) -> str:
    return str(resp.json()["error"]["code"])


def _dev_code(api: Api, subject: str = "rider-good", ttl_s: int = 60) -> str:
    resp = api.post("/v1/dev/payment-codes", {"subject_id": subject, "ttl_s": ttl_s})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["code"])


# --- payment codes ---------------------------------------------------------------------------


def test_code_resolves_to_its_payer(api: Api) -> None:
    resp = api.post("/v1/payment-codes/resolve", {"code": _dev_code(api, "rider-low")})
    assert resp.status_code == 200
    body = resp.json()
    assert body["subject_id"] == "rider-low"
    assert len(body["code_id"]) == 22 and body["expires_at"].endswith("Z")


def test_code_is_single_use_but_a_retry_with_the_same_key_succeeds(api: Api) -> None:
    code = _dev_code(api)
    first = api.post("/v1/payment-codes/resolve", {"code": code}, key="resolve-1")
    retry = api.post("/v1/payment-codes/resolve", {"code": code}, key="resolve-1")
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    reused = api.post("/v1/payment-codes/resolve", {"code": code})
    assert reused.status_code == 409 and _error(reused) == "code_already_used"


def test_code_used_at_one_terminal_is_refused_at_another(server: BackendServer, api: Api) -> None:
    code = _dev_code(api)
    assert api.post("/v1/payment-codes/resolve", {"code": code}).status_code == 200
    other = Api(server, "kiosk-0001")
    assert _error(other.post("/v1/payment-codes/resolve", {"code": code})) == "code_already_used"


def test_expired_code_is_410(api: Api) -> None:
    code = _dev_code(api, ttl_s=30)
    CLOCK.advance(30)
    resp = api.post("/v1/payment-codes/resolve", {"code": code})
    assert resp.status_code == 410 and _error(resp) == "code_expired"


def test_tampered_code_is_401(api: Api) -> None:
    code = _dev_code(api)
    head, payload, sig = code.split(".")
    tampered_sig = f"{head}.{payload}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"
    resp = api.post("/v1/payment-codes/resolve", {"code": tampered_sig})
    assert resp.status_code == 401 and _error(resp) == "code_signature_invalid"
    forged = issue_code("rider-good", signing_key=signing_key_from_seed(b"\x07" * 32),
                        now=CLOCK())
    resp = api.post("/v1/payment-codes/resolve", {"code": forged})
    assert resp.status_code == 401 and _error(resp) == "code_signature_invalid"


@pytest.mark.parametrize("text", ["", "hello", "SP1.x.y", "https://pay.example/x"])
def test_malformed_code_is_400(api: Api, text: str) -> None:
    resp = api.post("/v1/payment-codes/resolve", {"code": text})
    assert resp.status_code == 400 and _error(resp) == "code_malformed"


def test_public_keys_verify_codes_locally(api: Api) -> None:
    resp = requests.get(f"{api.url}/v1/payment-codes/keys", headers=api.auth, timeout=5)
    keys = {k["key_id"]: public_key_from_bytes(bytes.fromhex(k["public_key_hex"]))
            for k in resp.json()["keys"]}
    code = parse_code(_dev_code(api))
    verify_signature(code, keys)
    forged = parse_code(issue_code("rider-good", signing_key=signing_key_from_seed(b"\x09" * 32),
                                   now=CLOCK(), issuer=code.issuer))
    with pytest.raises(PaymentCodeError):
        verify_signature(forged, keys)


# --- holds -----------------------------------------------------------------------------------


def test_hold_then_release_restores_available_money(api: Api) -> None:
    subject = api.new_subject(30_000)
    hold = api.post("/v1/holds", {"subject_id": subject, "amount": _cny(19_900),
                                  "reference": "ride-1"})
    assert hold.status_code == 201
    assert hold.json()["status"] == "held" and hold.json()["amount"] == _cny(19_900)
    assert api.available(subject) == 30_000 - 19_900
    hold_id = hold.json()["hold_id"]
    released = api.post(f"/v1/holds/{hold_id}/release")
    assert released.status_code == 200
    assert released.json() == {"hold_id": hold_id, "status": "released"}
    assert api.available(subject) == 30_000
    again = api.post(f"/v1/holds/{hold_id}/release")
    assert again.status_code == 409 and _error(again) == "hold_not_active"


def test_capture_takes_part_of_the_hold_and_ends_it(api: Api) -> None:
    subject = api.new_subject(30_000)
    hold_id = api.post("/v1/holds", {"subject_id": subject, "amount": _cny(19_900),
                                     "reference": "ride-2"}).json()["hold_id"]
    too_much = api.post(f"/v1/holds/{hold_id}/capture", {"amount": _cny(20_000)})
    assert too_much.status_code == 400 and _error(too_much) == "capture_exceeds_hold"
    captured = api.post(f"/v1/holds/{hold_id}/capture", {"amount": _cny(5_000)}, key="cap-1")
    assert captured.status_code == 200
    assert captured.json()["status"] == "captured" and captured.json()["charge_id"]
    assert api.available(subject) == 25_000
    replay = api.post(f"/v1/holds/{hold_id}/capture", {"amount": _cny(5_000)}, key="cap-1")
    assert replay.json() == captured.json()
    other_key = api.post(f"/v1/holds/{hold_id}/capture", {"amount": _cny(5_000)})
    assert other_key.status_code == 409 and _error(other_key) == "hold_not_active"
    assert _error(api.post(f"/v1/holds/{hold_id}/release")) == "hold_not_active"


def test_hold_beyond_available_money_is_declined(api: Api) -> None:
    subject = api.new_subject(25_000)
    assert api.post("/v1/holds", {"subject_id": subject, "amount": _cny(19_900),
                                  "reference": "r"}).status_code == 201
    second = api.post("/v1/holds", {"subject_id": subject, "amount": _cny(19_900),
                                    "reference": "r2"})
    assert second.status_code == 402 and _error(second) == "payment_declined"


def test_unknown_hold_is_404(api: Api) -> None:
    assert _error(api.post("/v1/holds/hold_nope/release")) == "unknown_hold"


# --- charges and refunds ---------------------------------------------------------------------


def test_charge_declined_for_rider_broke(api: Api) -> None:
    resp = api.post("/v1/charges", {"subject_id": "rider-broke", "amount": _cny(150),
                                    "reference": "ride-9", "description": "fare"})
    assert resp.status_code == 402 and _error(resp) == "payment_declined"
    assert "insufficient funds" in resp.json()["error"]["message"]
    hold = api.post("/v1/holds", {"subject_id": "rider-broke", "amount": _cny(19_900),
                                  "reference": "ride-9"})
    assert hold.status_code == 402


@pytest.mark.parametrize(("amount", "code"), [
    ({"amount_minor": 0, "currency": "CNY"}, "invalid_money"),
    ({"amount_minor": -5, "currency": "CNY"}, "invalid_money"),
    ({"amount_minor": 100, "currency": "cny"}, "invalid_money"),
    ({"amount_minor": 1.5, "currency": "CNY"}, "invalid_request"),
    ({"amount_minor": "100", "currency": "CNY"}, "invalid_request"),
])
def test_bad_amounts_are_refused(api: Api, amount: dict[str, Any], code: str) -> None:
    resp = api.post("/v1/charges", {"subject_id": "rider-good", "amount": amount,
                                    "reference": "r", "description": "d"})
    assert resp.status_code == 400 and _error(resp) == code


def test_charge_in_another_currency_is_declined(api: Api) -> None:
    resp = api.post("/v1/charges", {"subject_id": "rider-good",
                                    "amount": {"amount_minor": 100, "currency": "USD"},
                                    "reference": "r", "description": "d"})
    assert resp.status_code == 402


def test_idempotent_replay_returns_the_same_charge_and_charges_once(api: Api) -> None:
    subject = api.new_subject(1_000)
    body = {"subject_id": subject, "amount": _cny(300), "reference": "ride-3",
            "description": "fare"}
    first = api.post("/v1/charges", body, key="charge-3")
    second = api.post("/v1/charges", body, key="charge-3")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert api.available(subject) == 700
    changed = api.post("/v1/charges", {**body, "amount": _cny(301)}, key="charge-3")
    assert changed.status_code == 409 and _error(changed) == "idempotency_key_reused"


def test_declined_response_is_replayed_even_after_funds_arrive(api: Api) -> None:
    subject = api.new_subject(100)
    body = {"subject_id": subject, "amount": _cny(300), "reference": "r", "description": "d"}
    first = api.post("/v1/charges", body, key="declined-1")
    assert first.status_code == 402
    api.post("/v1/refunds", {"charge_id": "x", "amount": _cny(1)})  # unrelated call in between
    again = api.post("/v1/charges", body, key="declined-1")
    assert (again.status_code, again.json()) == (402, first.json())


def test_concurrent_retries_with_one_key_charge_once(api: Api) -> None:
    subject = api.new_subject(10_000)
    body = {"subject_id": subject, "amount": _cny(1_000), "reference": "r", "description": "d"}
    results: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        resp = api.post("/v1/charges", body, key="concurrent-1")
        with lock:
            results.append(resp)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.json()["charge_id"] for r in results} == {results[0].json()["charge_id"]}
    assert api.available(subject) == 9_000


def test_refunds_cannot_exceed_the_charge(api: Api) -> None:
    subject = api.new_subject(5_000)
    charge_id = api.post("/v1/charges", {"subject_id": subject, "amount": _cny(1_000),
                                         "reference": "r", "description": "d"}).json()["charge_id"]
    part = api.post("/v1/refunds", {"charge_id": charge_id, "amount": _cny(600)})
    assert part.status_code == 201
    assert part.json()["status"] == "refunded" and part.json()["charge_id"] == charge_id
    over = api.post("/v1/refunds", {"charge_id": charge_id, "amount": _cny(401)})
    assert over.status_code == 409 and _error(over) == "refund_exceeds_charge"
    rest = api.post("/v1/refunds", {"charge_id": charge_id, "amount": _cny(400)})
    assert rest.status_code == 201
    assert api.available(subject) == 5_000
    assert _error(api.post("/v1/refunds", {"charge_id": charge_id, "amount": _cny(1)})) \
        == "refund_exceeds_charge"


def test_refund_of_unknown_charge_is_404(api: Api) -> None:
    resp = api.post("/v1/refunds", {"charge_id": "ch_nope", "amount": _cny(1)})
    assert resp.status_code == 404 and _error(resp) == "unknown_charge"


def test_idempotency_keys_are_scoped_per_terminal(server: BackendServer, api: Api) -> None:
    subject = api.new_subject(1_000)
    body = {"subject_id": subject, "amount": _cny(100), "reference": "r", "description": "d"}
    a = api.post("/v1/charges", body, key="shared-key")
    b = Api(server, "kiosk-0002").post("/v1/charges", body, key="shared-key")
    assert a.json()["charge_id"] != b.json()["charge_id"]
    assert api.available(subject) == 800
