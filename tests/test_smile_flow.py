"""The kiosk's Smile-to-Pay flow end to end: synthetic faces, the real back end over loopback."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from backend.routes_face import RULES
from backend.seed import add_subject
from backend.server import BackendServer
from backend.settings import BackendSettings
from hardware.emulated.clock import ManualClock
from payments.clients.face import Consent, FaceClient
from payments.clients.gateway import GatewayClient
from payments.clients.http import ServiceSettings
from payments.money import Money
from terminal.config.schema import FaceSection, SmileSection
from terminal.kiosk.smile import Order, SmileToPay
from terminal.kiosk.smile_states import END_STATES, TRANSITIONS, SmileState
from terminal.statemachine import reachable
from tests.smile_synth import FPS, IMAGE, Person, ScriptedSensor, identity
from tests.wallet import WalletFaceClient

TERMINAL = "emu-kiosk-0001"
PHONE = "13912344729"
LAST4 = "4729"
FACE = FaceSection(challenges=("smile", "blink", "turn_left", "turn_right"))
SMILE = SmileSection()


@pytest.fixture(scope="module")
def server():
    with BackendServer(BackendSettings()) as running:
        with running.backend.store.transaction() as conn:
            for i in range(6):
                add_subject(conn, f"shopper-{i}", "test shopper", 100_000, 0.0)
        yield running


@pytest.fixture
def clients(server):
    with server.backend.store.transaction() as conn:
        for table in ("face_enrollments", "face_attempts", "face_consents"):
            conn.execute(f"DELETE FROM {table}")
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for(TERMINAL),
                               max_retries=0)
    with WalletFaceClient(settings, server.backend) as faces, \
            GatewayClient(settings) as gateway:
        yield faces, gateway


def enroll(faces: WalletFaceClient, subject: str, phone: str, seed: int, digit_free: bool = False):
    vec = identity(seed)
    frames = [(vec + 0.02 * identity(100 + i)).tolist() for i in range(3)]
    consent = Consent("Test Shopper", "smile_to_pay", 30, datetime.now(UTC), digit_free)
    return faces.enroll_as(subject, phone=phone, embeddings=frames, consent=consent)


class Kiosk:
    """A flow wired to the real clients, a manual clock and a synthetic person."""

    def __init__(self, clients, *, seed: int = 1, smile: SmileSection = SMILE,
                 face: FaceSection = FACE) -> None:
        self.faces, self.gateway = clients
        self.clock = ManualClock(100.0)
        self.sensor = ScriptedSensor(identity(seed), clock=self.clock)
        self.events: list = []
        self.flow = SmileToPay(sensor=self.sensor, faces=self.faces, gateway=self.gateway,
                               face=face, smile=smile, terminal_id=TERMINAL, clock=self.clock,
                               emit=self.events.append)

    def pay(self, amount: int, person: Person, digits: list[str] | None = None,
            max_frames: int = 600):
        keypad = list(digits or [])
        status = self.flow.start(Order("order-1", Money(amount, "CNY")))
        self.prompts = [status.prompt]
        for _ in range(max_frames):
            if status.done:
                break
            if status.state is SmileState.DIGITS:
                if not keypad:
                    self.clock.advance(1.0)
                    status = self.flow.tick()
                    continue
                status = self.flow.enter_digits(keypad.pop(0))
            else:
                self.sensor.next = person.observe(self.clock(), status.action)
                status = self.flow.on_frame(IMAGE, self.clock())
                self.clock.advance(1.0 / FPS)
            self.prompts.append(status.prompt)
        return status

    def event_types(self) -> list[str]:
        return [e.type for e in self.events]


def test_every_state_is_reachable_and_every_end_state_resets():
    assert reachable(TRANSITIONS, SmileState.IDLE) == set(SmileState)
    for state in END_STATES:
        assert (state, SmileState.IDLE) in {(s, t) for (s, _e), t in TRANSITIONS.items()}


def test_live_enrolled_customer_types_last_four_and_is_charged(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(), [LAST4])
    assert status.state is SmileState.CHARGED, status
    assert status.subject_id == "shopper-0" and status.charge_id
    assert status.reason_codes[0] == "face_verified"
    assert "no_regulars_here" in status.reason_codes
    assert status.decision_s is not None and status.decision_s < 2.0 + 2 * 3.5
    assert kiosk.event_types() == ["face.verified", "payment.captured"]
    assert status.liveness["live"] is True
    plan = kiosk.sensor.plans[0]
    shown = [p for p in kiosk.prompts if p.startswith("Please") and "digits" not in p]
    assert any(step.action.split("_")[0] in " ".join(shown).lower() for step in plan.steps)
    assert "Please type the last 4 digits of your phone number" in kiosk.prompts


def test_events_carry_no_phone_digits_and_no_biometrics(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    kiosk.pay(1500, Person(), [LAST4])
    # Event ids and times are random or clock-made digits; what is checked is what the event says.
    said = [{k: v for k, v in e.attributes.items() if not k.endswith("_id")} | {"type": e.type}
            for e in kiosk.events]
    text = json.dumps(said)
    assert LAST4 not in text and PHONE not in text
    for forbidden in ("embedding", "distance", "landmark", "probe"):
        assert forbidden not in text


def test_a_flat_replay_that_answers_every_prompt_is_a_suspected_spoof(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(flat=True), [LAST4])
    assert status.state is SmileState.SPOOF_SUSPECTED
    assert status.reason_codes == ("spoof_suspected",)
    assert status.liveness["checks"]["planar_motion"]["passed"] is False
    assert kiosk.event_types() == ["liveness.failed"]
    assert kiosk.sensor.embedded == []  # nothing was embedded, nothing sent


def test_a_photo_of_the_account_holder_then_someone_else_answering_is_refused(clients):
    # The probe frames show the enrolled person (a photo held up first); a different live
    # person answers the prompts: the check frames do not match the probe.
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    kiosk.sensor.later_identity = identity(2)
    status = kiosk.pay(1500, Person(), [LAST4])
    assert status.state is SmileState.SPOOF_SUSPECTED
    assert status.reason_codes == ("face_changed",)
    check = status.liveness["checks"]["identity_continuity"]
    assert check["passed"] is False and check["score"] > FACE.continuity_max_distance
    assert status.liveness["live"] is False
    assert kiosk.event_types() == ["liveness.failed"]
    assert kiosk.events[0].attributes["reason"] == "identity_changed"
    assert status.charge_id is None


def test_a_still_photo_never_answers_the_challenge(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(flat=True, responsive=False), [LAST4])
    assert status.state is SmileState.TIMED_OUT
    assert status.reason_codes == ("challenge_not_answered",)
    assert kiosk.event_types() == ["liveness.failed"]


def test_someone_else_with_the_right_digits_is_declined(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=2)
    status = kiosk.pay(1500, Person(), [LAST4])
    assert status.state is SmileState.DECLINED
    assert status.reason_codes == ("face_not_matched",)
    assert kiosk.event_types() == ["face.rejected"]


def test_digits_of_nobody_enrolled_are_declined_like_a_wrong_face(clients):
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(), ["0000"])
    # The gateway does not say whether anyone has those digits (no enrollment oracle).
    assert (status.state, status.reason_codes) == (SmileState.DECLINED, ("face_not_matched",))


def test_large_order_asks_the_full_number(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(50_000, Person(), [PHONE])
    assert status.state is SmileState.CHARGED
    assert "Please type your full phone number" in kiosk.prompts
    assert "order_above_last4_limit" in status.reason_codes


def test_popular_last_four_escalate_to_the_full_number(clients):
    for i in range(3):
        enroll(clients[0], f"shopper-{i}", f"139000{i}{LAST4}", seed=10 + i)
    risky = replace(SMILE, fmr_at_threshold=5e-4, false_match_budget=1e-3)  # 2 per suffix
    kiosk = Kiosk(clients, seed=11, smile=risky)
    status = kiosk.pay(1500, Person(), [LAST4, f"1390001{LAST4}"])
    assert status.state is SmileState.CHARGED, status
    assert status.subject_id == "shopper-1"
    assert "last4_shared" in status.reason_codes
    i = kiosk.prompts.index("Please type your full phone number")
    assert i > kiosk.prompts.index("Please type the last 4 digits of your phone number")


def test_digit_free_regular_pays_without_typing(clients):
    faces = clients[0]
    enroll(faces, "shopper-0", PHONE, seed=1, digit_free=True)
    for _ in range(RULES.regular_min_visits):
        assert faces.verify(phone_digits=PHONE, probe=identity(1).tolist()).match
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(), [])
    assert status.state is SmileState.CHARGED
    assert status.reason_codes[:2] == ("face_verified", "regular_small_order")
    assert not any("digits" in p for p in kiosk.prompts)


def test_failed_digit_free_match_falls_back_to_last_four(clients):
    faces = clients[0]
    enroll(faces, "shopper-0", PHONE, seed=1, digit_free=True)
    for _ in range(RULES.regular_min_visits):
        faces.verify(phone_digits=PHONE, probe=identity(1).tolist())
    enroll(faces, "shopper-1", "13800001111", seed=2)
    kiosk = Kiosk(clients, seed=2)  # not a regular here
    status = kiosk.pay(1500, Person(), ["1111"])
    assert status.state is SmileState.CHARGED and status.subject_id == "shopper-1"
    assert "digit_free_match_failed" in status.reason_codes


def test_empty_wallet_is_declined_after_the_match(clients, server):
    enroll(clients[0], "rider-broke", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(), [LAST4])
    assert (status.state, status.reason_codes) == (SmileState.DECLINED, ("payment_declined",))
    assert kiosk.event_types() == ["face.verified", "payment.declined"]


def test_order_above_the_face_limit_is_declined_before_the_camera(clients):
    kiosk = Kiosk(clients)
    status = kiosk.flow.start(Order("big", Money(SMILE.max_order_minor + 1, "CNY")))
    assert (status.state, status.reason_codes) == (SmileState.DECLINED,
                                                   ("order_above_face_limit",))


def test_wrong_keypad_input_asks_again(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(), ["12", "abcd", LAST4])
    assert status.state is SmileState.CHARGED
    assert "Please type exactly 4 digits" in kiosk.prompts


def test_no_digits_typed_times_out(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    status = kiosk.pay(1500, Person(), [])
    assert (status.state, status.reason_codes) == (SmileState.TIMED_OUT, ("digits_timeout",))


def test_nobody_in_front_of_the_camera_times_out(clients):
    kiosk = Kiosk(clients)
    status = kiosk.flow.start(Order("o", Money(100, "CNY")))
    for _ in range(int(FACE.session_timeout_s * FPS) + 2):
        kiosk.sensor.next = None
        status = kiosk.flow.on_frame(IMAGE, kiosk.clock())
        kiosk.clock.advance(1 / FPS)
    assert status.state is SmileState.TIMED_OUT


def test_unreachable_back_end_fails_with_a_plain_reason(clients):
    dead = ServiceSettings(url="http://127.0.0.1:9", max_retries=0, connect_timeout_s=0.5,
                           read_timeout_s=0.5)
    with FaceClient(dead) as faces, GatewayClient(dead) as gateway:
        kiosk = Kiosk((faces, gateway), seed=1)
        status = kiosk.pay(1500, Person(), [LAST4])
    assert (status.state, status.reason_codes) == (SmileState.FAILED, ("service_unavailable",))


def test_reset_starts_a_fresh_attempt(clients):
    enroll(clients[0], "shopper-0", PHONE, seed=1)
    kiosk = Kiosk(clients, seed=1)
    first = kiosk.pay(1500, Person(flat=True, responsive=False))
    assert first.done
    kiosk.flow.reset()
    assert kiosk.flow.state is SmileState.IDLE
    assert kiosk.pay(1500, Person(), [LAST4]).state is SmileState.CHARGED
