"""Consent-first Smile-to-Pay enrollment against the real back end, with synthetic faces."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from backend.server import BackendServer
from backend.settings import BackendSettings
from hardware.emulated.clock import ManualClock
from hardware.ports import Frame
from payments.clients.face import Consent
from payments.clients.http import ServiceSettings
from terminal.config.schema import FaceSection
from terminal.errors import FlowError
from terminal.kiosk.enroll import EnrollState, FaceEnrollment, consent_text
from tests.smile_synth import FPS, IMAGE, Person, ScriptedSensor, identity
from tests.wallet import WalletFaceClient

PHONE = "13712345678"
FACE = FaceSection(enroll_frames=4)
CONSENT = Consent("Ada Demo", "smile_to_pay", 180, datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def server():
    with BackendServer(BackendSettings()) as running:
        yield running


@pytest.fixture
def faces(server):
    with server.backend.store.transaction() as conn:
        conn.execute("DELETE FROM face_enrollments")
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for("emu-kiosk-0001"),
                               max_retries=0)
    with WalletFaceClient(settings, server.backend) as client:
        yield client


class CountingSensor(ScriptedSensor):
    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.observed = 0

    def observe(self, image, timestamp):
        self.observed += 1
        return super().observe(image, timestamp)


def make(faces, *, live: bool = True, seed: int = 1):
    clock = ManualClock(10.0)
    sensor = CountingSensor(identity(seed), clock=clock)
    events: list = []
    flow = FaceEnrollment(sensor=sensor, faces=faces, face=FACE, terminal_id="emu-kiosk-0001",
                          clock=clock, require_liveness=live, emit=events.append)
    return flow, sensor, clock, events


def drive(flow, sensor, clock, person: Person, frames: int = 200):
    status = flow.status
    for _ in range(frames):
        if status.done:
            break
        sensor.next = person.observe(clock(), status.action)
        status = flow.on_frame(IMAGE, clock())
        clock.advance(1 / FPS)
    return status


def test_nothing_is_captured_before_consent(faces):
    flow, sensor, clock, _ = make(faces)
    for _ in range(5):
        status = flow.on_frame(IMAGE, clock())
    assert status.state is EnrollState.AWAITING_CONSENT and sensor.observed == 0


def test_declined_consent_records_nothing(faces, server):
    flow, sensor, _, events = make(faces)
    status = flow.decline_consent()
    assert (status.state, status.reason) == (EnrollState.REFUSED, "consent_declined")
    assert sensor.observed == 0 and events == []
    with server.backend.store.transaction() as conn:
        assert conn.execute("SELECT COUNT(*) FROM face_enrollments").fetchone()[0] == 0


def test_live_person_is_enrolled_and_can_then_be_verified(faces):
    flow, sensor, clock, events = make(faces)
    flow.give_consent(CONSENT, payment_code=faces.code(), phone=PHONE)
    status = drive(flow, sensor, clock, Person())
    assert status.state is EnrollState.ENROLLED, status
    assert status.enrollment is not None and status.enrollment.frames == FACE.enroll_frames
    assert [e.type for e in events] == ["face.enrolled"]
    assert PHONE not in json.dumps([e.to_dict() for e in events])
    match = faces.verify(phone_digits=PHONE, probe=identity(1).tolist())
    assert match.match and match.subject_id == "rider-good"


def test_a_photo_cannot_enroll_when_liveness_is_required(faces):
    flow, sensor, clock, events = make(faces)
    flow.give_consent(CONSENT, payment_code=faces.code(), phone=PHONE)
    status = drive(flow, sensor, clock, Person(flat=True, responsive=False))
    assert status.state is EnrollState.FAILED and status.reason.startswith("liveness")
    assert events == []


def test_operator_assisted_enrollment_from_frames_skips_the_challenge(faces):
    flow, sensor, clock, _ = make(faces, live=False)
    flow.give_consent(CONSENT, payment_code=faces.code(), phone=PHONE)
    person = Person(flat=True, responsive=False)

    def frames():
        for i in range(20):
            sensor.next = person.observe(clock(), None)
            yield Frame(np.zeros((4, 4, 3), np.uint8), clock(), i)
            clock.advance(0.2)

    assert flow.run(frames()).state is EnrollState.ENROLLED


def test_too_few_clear_frames_fail_with_a_reason(faces):
    flow, sensor, clock, _ = make(faces, live=False)
    flow.give_consent(CONSENT, payment_code=faces.code(), phone=PHONE)
    sensor.next = Person().observe(0.0, None)
    status = flow.run([Frame(np.zeros((4, 4, 3), np.uint8), clock(), 0)])
    assert status.state is EnrollState.FAILED and "only 1 of 4" in status.reason


def test_back_end_refusal_is_reported(faces):
    flow, sensor, clock, _ = make(faces, live=False)
    flow.give_consent(CONSENT, payment_code=faces.code("nobody"), phone=PHONE)
    person = Person()
    status = flow.status
    for _ in range(40):
        sensor.next = person.observe(clock(), None)
        status = flow.on_frame(IMAGE, clock())
        clock.advance(0.2)
        if status.done:
            break
    assert status.state is EnrollState.FAILED and status.reason.startswith("unknown_subject")


def test_consent_twice_is_a_flow_error(faces):
    flow, *_ = make(faces)
    flow.give_consent(CONSENT, payment_code=faces.code(), phone=PHONE)
    with pytest.raises(FlowError):
        flow.give_consent(CONSENT, payment_code=faces.code(), phone=PHONE)


def test_consent_text_says_what_is_kept_and_for_how_long():
    text = consent_text("smile_to_pay", 180, digit_free=True)
    assert "180 days" in text and "not a photo" in text and "delete" in text
    assert "without typing digits" in text
