"""The back end refuses, at the event schema, events that carry phone numbers (in every
encoding the security review tried) or biometric data, and stores nothing of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings

BIKE = "bike-0909"
PHONE = 13800138000

# The encodings of the security review (a phone number 138 0013 8000) and a few more.
PHONE_ENCODINGS: dict[str, dict[str, Any]] = {
    "dots": {"note": "138.0013.8000"},
    "international": {"note": "+86 138-0013-8000"},
    "spaces": {"note": "138 0013 8000"},
    "slashes": {"note": "138/0013/8000"},
    "brackets": {"note": "(138) 0013 8000"},
    "underscores": {"note": "138_0013_8000"},
    "letter O for zero": {"note": "138OO138OOO"},
    "lower-case o": {"note": "138oo138ooo"},
    "integer": {"ref": PHONE},
    "integer with a unit name": {"amount_minor": PHONE},
    "hex": {"ref": hex(PHONE)},
    "bare hex": {"ref": hex(PHONE)[2:]},
    "split across attributes": {"part_a": "138", "part_b": "0013", "part_c": "8000"},
    "full-width digits": {"note": "１３８００１３８０００"},
    "Arabic-Indic digits": {"note": "١٣٨٠٠١٣٨٠٠٠"},
    "mathematical digits": {"note": "𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎"},
    "among words": {"note": "call me on 138 0013 8000 after six"},
    "an id that is a number": {"ride_id": "138-0013-8000"},
}
BIOMETRIC_ENCODINGS: dict[str, dict[str, Any]] = {
    "embedding": {"embedding": "0.12,0.33"},
    "face vector": {"face_vector": "abc"},
    "image in base64": {"img_b64": "iVBORw0KGgo"},
    "template": {"template_id": "t1"},
    "selfie": {"selfie": "x"},
    "landmarks": {"landmarks": "x"},
    "long text (an embedding spelled out)": {"blob": "0.1234," * 50},
    "a list of numbers": {"v": [0.1, 0.2, 0.3]},
    "a float": {"v": 0.5},
    "a nested object": {"v": {"x": 1}},
    "contact word": {"mobile_no": "x"},
    "tel": {"tel": "x"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[BackendServer]:
    with BackendServer(BackendSettings()) as srv:
        yield srv


def _event(attributes: dict[str, Any], subject: str | None = None) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "schema": 1, "type": "ride.ended",
            "time": "2026-11-26T10:30:00Z", "terminal_id": BIKE, "subject_id": subject,
            "attributes": attributes}


def _upload(server: BackendServer, events: list[dict[str, Any]]) -> dict[str, Any]:
    resp = requests.post(f"{server.url}/v1/events:batch", json={"events": events}, timeout=5,
                         headers={"Authorization": f"Bearer {server.api_key_for(BIKE)}"})
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _stored(server: BackendServer, event_ids: list[str]) -> int:
    with server.backend.store.transaction() as conn:
        return sum(conn.execute("SELECT COUNT(*) FROM events WHERE event_id = ?",
                                (i,)).fetchone()[0] for i in event_ids)


@pytest.mark.parametrize(("name", "kind"), [(n, "phone") for n in PHONE_ENCODINGS]
                         + [(n, "biometric") for n in BIOMETRIC_ENCODINGS])
def test_every_encoding_is_refused_and_nothing_is_stored(server: BackendServer, name: str,
                                                         kind: str) -> None:
    attributes = (PHONE_ENCODINGS if kind == "phone" else BIOMETRIC_ENCODINGS)[name]
    event = _event(attributes)
    result = _upload(server, [event])
    assert result["accepted"] == 0, name
    (rejected,) = result["rejected"]
    assert rejected["id"] == event["id"]
    assert rejected["error"].split(":")[0] in ("forbidden_attribute", "malformed"), rejected
    if kind == "phone":
        assert rejected["error"].startswith("forbidden_attribute"), rejected
    assert _stored(server, [event["id"]]) == 0


def test_a_subject_id_that_is_a_phone_number_is_refused(server: BackendServer) -> None:
    for subject in ("13800138000", "+86-138-0013-8000", "138OO138OOO", "tel:13800138000"):
        result = _upload(server, [_event({}, subject)])
        assert result["accepted"] == 0, subject
        assert result["rejected"][0]["error"].split(":")[0] in (
            "forbidden_attribute", "malformed"), subject  # '+' is no id character at all


def test_ordinary_events_with_ids_dates_and_amounts_are_accepted(server: BackendServer) -> None:
    fine = [_event({"ride_id": "r-2026-11-26-0001", "duration_s": 2820,
                    "fare_minor": 300, "on_time": True}),
            _event({"note": "returned 2026-11-26T10:30:00Z at bay 14", "blocks": 2})]
    result = _upload(server, fine)
    assert result == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert _stored(server, [e["id"] for e in fine]) == 2
