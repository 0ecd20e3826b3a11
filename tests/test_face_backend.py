"""Face routes of the reference back end, driven through FaceClient over real loopback HTTP."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

import numpy as np
import pytest

from backend.routes_face import RULES
from backend.server import BackendServer
from backend.settings import BackendSettings
from payments.clients.errors import (
    BadArgument,
    CodeRejected,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
)
from payments.clients.face import Consent
from payments.clients.http import ServiceSettings
from payments.paycode import issue_code, public_key_id, signing_key_from_seed
from tests.wallet import WalletFaceClient

PHONE_A = "13800138000"
PHONE_B = "13900008000"  # shares the last four digits with A
START = 1_795_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, seed: int, step: float = 0.1) -> np.ndarray:
    """A vector about ``step`` away from ``v`` (another photo of the same face)."""
    noise = np.random.default_rng(seed).normal(size=128)
    return v + step * noise / np.linalg.norm(noise)


def frames(v: np.ndarray, n: int = 3) -> list[list[float]]:
    return [near(v, 100 + i, 0.05).tolist() for i in range(n)]


def consent(**kw) -> Consent:
    base = dict(given_by="Ada Demo", purpose="smile_to_pay", retention_days=30,
                given_at=datetime.fromtimestamp(START, UTC))
    return Consent(**{**base, **kw})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    clock = Clock()
    db = tmp_path_factory.mktemp("face") / "backend.sqlite"
    with BackendServer(BackendSettings(database=str(db), clock=clock)) as srv:
        srv.clock = clock  # type: ignore[attr-defined]
        yield srv


@pytest.fixture
def client(server):
    server.clock.now = START
    with server.backend.store.transaction() as conn:
        for table in ("face_enrollments", "face_attempts", "face_consents", "face_failures"):
            conn.execute(f"DELETE FROM {table}")
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for("emu-kiosk-0001"),
                               max_retries=0)
    with WalletFaceClient(settings, server.backend) as c:
        yield c


def test_enroll_then_verify_with_full_number_matches(client):
    face = unit(1)
    e = client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(face),
                      consent=consent())
    assert (e.subject_id, e.frames, e.terminal_id) == ("rider-good", 3, "emu-kiosk-0001")
    assert e.expires_at is not None and (e.expires_at.timestamp() - START) == 30 * 86400
    m = client.verify(phone_digits=PHONE_A, probe=near(face, 7).tolist())
    assert (m.match, m.reason, m.subject_id) == (True, "matched", "rider-good")


def test_another_face_does_not_match(client):
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(unit(1)),
                  consent=consent())
    m = client.verify(phone_digits=PHONE_A, probe=unit(2).tolist())
    assert (m.match, m.reason, m.subject_id) == (False, "no_match", None)


def test_last_four_digits_compare_against_every_account_sharing_them(client):
    a, b = unit(1), unit(2)
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(a), consent=consent())
    client.enroll_as("rider-low", phone=PHONE_B, embeddings=frames(b), consent=consent())
    assert client.candidates(phone_digits="8000").count == 2
    assert client.candidates(phone_digits="1234").count == 0
    m = client.verify(phone_digits="8000", probe=near(b, 9).tolist())
    assert (m.match, m.subject_id) == (True, "rider-low")


def test_unknown_digits_get_the_same_answer_as_a_wrong_face(client):
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(unit(1)),
                     consent=consent())
    unknown = client.verify(phone_digits="13700000000", probe=unit(3).tolist())
    wrong = client.verify(phone_digits=PHONE_A, probe=unit(3).tolist())
    assert unknown == wrong
    assert (wrong.match, wrong.reason, wrong.subject_id) == (False, "no_match", None)


def test_only_the_account_holder_can_delete_and_it_is_confirmed(client, server):
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(unit(1)),
                     consent=consent())
    with pytest.raises(NotFoundError):  # another account's code deletes nothing of rider-good
        client.delete(payment_code=client.code("rider-low"))
    assert client.verify(phone_digits=PHONE_A, probe=unit(1).tolist()).match


def test_deletion_is_confirmed_and_later_verify_says_not_enrolled(client, server):
    face = unit(1)
    e = client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(face),
                      consent=consent())
    d = client.delete(payment_code=client.code("rider-good"))
    assert (d.subject_id, d.enrollment_id, d.templates_deleted) == (
        "rider-good", e.enrollment_id, 1)
    assert client.verify(phone_digits=PHONE_A, probe=face.tolist()).reason == "no_match"
    code = client.code("rider-good")
    with pytest.raises(NotFoundError) as err:
        client.delete(payment_code=code)
    assert err.value.code == "not_enrolled"
    with pytest.raises(NotFoundError):  # the refused deletion did not use the code up
        client.delete(payment_code=code)
    with server.backend.store.transaction() as conn:
        row = conn.execute("SELECT given_by, ended_at, end_reason FROM face_consents"
                           " WHERE enrollment_id = ?", (e.enrollment_id,)).fetchone()
    assert row["ended_at"] is not None and "deleted" in row["end_reason"]


def test_templates_and_phone_numbers_are_not_stored_in_clear(client, server):
    face = unit(1)
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(face),
                  consent=consent())
    path = server.settings.database
    with server.backend.store.transaction():
        pass
    raw = b""
    for suffix in ("", "-wal"):
        try:
            with open(path + suffix, "rb") as fh:
                raw += fh.read()
        except FileNotFoundError:
            pass
    assert PHONE_A.encode() not in raw
    template = np.mean(np.array(frames(face)), axis=0).astype("<f4").tobytes()
    assert template[:16] not in raw
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT * FROM face_enrollments").fetchone()
    assert "8000" not in row and PHONE_A not in row  # last four kept only as a keyed hash
    blob = row[4]
    assert len(blob) == 12 + 128 * 4 + 16  # nonce + ciphertext + tag


def test_repeated_failures_back_off_this_terminal_and_these_digits_only(client, server):
    face = unit(1)
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(face),
                     consent=consent())
    for _ in range(RULES.max_failures):
        assert client.verify(phone_digits=PHONE_A, probe=unit(5).tolist()).reason == "no_match"
    held = client.verify(phone_digits=PHONE_A, probe=near(face, 3).tolist())
    assert (held.match, held.reason) == (False, "too_many_attempts")
    assert held.retry_after_s == RULES.backoff_base_s
    # The account holder is not locked out elsewhere: another kiosk matches at once.
    other = ServiceSettings(url=server.url, api_key=server.api_key_for("emu-kiosk-0002"),
                            max_retries=0)
    with WalletFaceClient(other, server.backend) as elsewhere:
        assert elsewhere.verify(phone_digits=PHONE_A, probe=near(face, 3).tolist()).match
    server.clock.now += RULES.backoff_base_s
    assert client.verify(phone_digits=PHONE_A, probe=near(face, 3).tolist()).match


def test_the_back_off_grows_and_does_not_reveal_enrollment(client, server):
    # Unenrolled digits are throttled exactly like enrolled ones.
    for _ in range(RULES.max_failures):
        client.verify(phone_digits="13700000000", probe=unit(5).tolist())
    waits = []
    for _ in range(3):
        assert client.verify(phone_digits="13700000000", probe=unit(5).tolist()).reason \
            == "too_many_attempts"
        server.clock.now += RULES.backoff_base_s * 2 ** len(waits)
        waits.append(client.verify(phone_digits="13700000000",
                                   probe=unit(5).tolist()).reason)
    assert waits == ["no_match"] * 3  # each wait doubled before another probe was compared


def test_a_terminal_budget_stops_probing_across_many_numbers(client):
    for i in range(RULES.terminal_max_failures):
        phone = f"1370000{i:04d}"
        assert client.verify(phone_digits=phone, probe=unit(5).tolist()).reason == "no_match"
    m = client.verify(phone_digits="13900000000", probe=unit(5).tolist())
    assert (m.reason, m.retry_after_s) == ("too_many_attempts", RULES.backoff_base_s)


def test_the_answer_never_carries_a_distance_or_a_count(client, server):
    import requests

    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(unit(1)),
                     consent=consent())
    key = server.api_key_for("emu-kiosk-0001")
    for digits in (PHONE_A, "8000", "", "13700000000"):
        r = requests.post(server.url + "/v1/face/verifications", timeout=5,
                          json={"phone_digits": digits, "probe": unit(2).tolist()},
                          headers={"Authorization": f"Bearer {key}"})
        assert set(r.json()) == {"match", "reason", "threshold", "subject_id", "retry_after_s"}


def test_regulars_need_digit_free_consent_and_visits(client):
    face = unit(1)
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(face),
                  consent=consent(digit_free=True))
    client.enroll_as("rider-low", phone=PHONE_B, embeddings=frames(unit(2)),
                  consent=consent(digit_free=False))
    assert client.candidates(phone_digits="").count == 0
    assert client.verify(phone_digits="", probe=face.tolist()).reason == "ask_for_digits"
    for i in range(RULES.regular_min_visits):
        assert client.verify(phone_digits=PHONE_A, probe=near(face, i).tolist()).match
    for i in range(RULES.regular_min_visits):
        assert client.verify(phone_digits=PHONE_B, probe=near(unit(2), i).tolist()).match
    assert client.candidates(phone_digits="").count == 1  # rider-low did not consent
    m = client.verify(phone_digits="", probe=near(face, 42).tolist())
    assert (m.match, m.subject_id) == (True, "rider-good")


def test_retention_period_end_removes_the_template(client, server):
    face = unit(1)
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(face),
                  consent=consent(retention_days=1))
    server.clock.now += 86400 + 1
    assert client.verify(phone_digits=PHONE_A, probe=face.tolist()).reason == "no_match"


def test_reenrolling_replaces_the_template(client):
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(unit(1)),
                  consent=consent())
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(unit(4)),
                  consent=consent())
    assert not client.verify(phone_digits=PHONE_A, probe=unit(1).tolist()).match
    assert client.verify(phone_digits=PHONE_A, probe=unit(4).tolist()).match


def test_phone_of_another_account_is_refused(client):
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(unit(1)),
                  consent=consent())
    with pytest.raises(ConflictError) as err:
        client.enroll_as("rider-low", phone=PHONE_A, embeddings=frames(unit(2)),
                      consent=consent())
    assert err.value.code == "phone_in_use"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"embeddings": frames(unit(1), 2)}, "too_few_frames"),
        ({"embeddings": [unit(1).tolist(), unit(2).tolist(), unit(3).tolist()]},
         "enrollment_inconsistent"),
        ({"subject": "nobody"}, "unknown_subject"),
        ({"consent": consent(given_at=datetime.fromtimestamp(START + 3600, UTC))},
         "invalid_consent"),
    ],
)
def test_bad_enrollments_get_a_clear_error(client, kwargs, code):
    kwargs = dict(kwargs)
    args = dict(payment_code=client.code(kwargs.pop("subject", "rider-good")), phone=PHONE_A,
                embeddings=frames(unit(1)), consent=consent())
    with pytest.raises((InvalidRequestError, NotFoundError)) as err:
        client.enroll(**{**args, **kwargs})
    assert err.value.code == code


def test_enrollment_needs_a_fresh_genuine_code_of_the_account_and_uses_it_up(client, server):
    face = unit(1)
    code = client.code("rider-good")
    e = client.enroll(payment_code=code, phone=PHONE_A, embeddings=frames(face),
                      consent=consent())
    assert e.subject_id == "rider-good"  # the account is the code's, not the terminal's say
    with pytest.raises(CodeRejected) as used:  # the same code cannot enroll another face
        client.enroll(payment_code=code, phone=PHONE_A, embeddings=frames(unit(2)),
                      consent=consent())
    assert used.value.code == "code_already_used"
    old = client.code("rider-good", ttl_s=30)
    server.clock.now += 31
    with pytest.raises(CodeRejected) as expired:
        client.enroll(payment_code=old, phone=PHONE_A, embeddings=frames(unit(2)),
                      consent=consent())
    assert expired.value.code == "code_expired"
    real_issuer = public_key_id(server.backend.signing_key.public_key())
    forged = issue_code("rider-good", signing_key=signing_key_from_seed(b"x" * 32),
                        now=server.backend.now(), issuer=real_issuer)
    with pytest.raises(CodeRejected) as bad:
        client.enroll(payment_code=forged, phone=PHONE_A, embeddings=frames(unit(2)),
                      consent=consent())
    assert bad.value.code == "code_signature_invalid"
    # The template enrolled with the good code is untouched by the refused attempts.
    assert client.verify(phone_digits=PHONE_A, probe=near(face, 9).tolist()).match


def test_a_refused_enrollment_does_not_use_up_the_code(client):
    code = client.code("rider-good")
    with pytest.raises(InvalidRequestError):
        client.enroll(payment_code=code, phone=PHONE_A, embeddings=frames(unit(1), 2),
                      consent=consent())
    e = client.enroll(payment_code=code, phone=PHONE_A, embeddings=frames(unit(1)),
                      consent=consent())
    assert e.subject_id == "rider-good"


def test_a_looser_threshold_than_the_gateway_allows_is_refused(client):
    with pytest.raises(InvalidRequestError) as err:
        client.verify(phone_digits=PHONE_A, probe=unit(1).tolist(), threshold=0.9)
    assert err.value.code == "invalid_threshold"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.verify(phone_digits="12", probe=unit(1).tolist()),
        lambda c: c.verify(phone_digits="1234", probe=[0.1] * 12),
        lambda c: c.verify(phone_digits="12a4", probe=unit(1).tolist()),
        lambda c: c.enroll(payment_code="SP1.x.y", phone="12", embeddings=[],
                           consent=consent()),
        lambda c: c.enroll(payment_code=" ", phone=PHONE_A, embeddings=[[0.1] * 128],
                           consent=consent()),
        lambda c: c.delete(payment_code=""),
        lambda c: Consent("", "p", 1, datetime.now(UTC)),
        lambda c: Consent("a", "p", 0, datetime.now(UTC)),
    ],
)
def test_client_refuses_malformed_arguments_before_sending(client, call):
    with pytest.raises(BadArgument):
        call(client)


def test_raw_malformed_requests_get_the_error_body(server):
    import requests

    key = server.api_key_for("emu-kiosk-0001")
    bad = [
        ("/v1/face/verifications", {"phone_digits": "1234", "probe": ["x"] * 128}),
        ("/v1/face/verifications", {"phone_digits": "12345", "probe": [0.1] * 128}),
        ("/v1/face/verifications", {"probe": [0.1] * 128, "extra": 1}),
        ("/v1/face/candidates", {"phone_digits": PHONE_A}),
    ]
    for path, body in bad:
        r = requests.post(server.url + path, json=body, headers={"Authorization": f"Bearer {key}"},
                          timeout=5)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] in {"invalid_request", "invalid_phone",
                                             "invalid_embedding"}
    r = requests.post(server.url + "/v1/face/verifications", json={"probe": [0.1] * 128},
                      timeout=5)
    assert r.status_code == 401


def test_phone_numbers_and_embeddings_never_reach_the_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    face = unit(1)
    client.enroll_as("rider-good", phone=PHONE_A, embeddings=frames(face),
                  consent=consent())
    client.verify(phone_digits=PHONE_A, probe=face.tolist())
    client.delete(payment_code=client.code("rider-good"))
    text = caplog.text
    assert PHONE_A not in text and f"{face[0]:.6f}"[:8] not in text
