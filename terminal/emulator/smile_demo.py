"""Smile to Pay end to end on the emulator: consented enrollment, then a payment by face.

The reference back end runs on loopback. A demo customer (seeded account ``rider-good``,
a made-up phone number) consents and is enrolled from one recorded clip; then pays an order
with another clip of the same person played by a file camera (``attack="none"``), or a still
photo of them held up as a print or a phone screen (``attack="photo"`` / ``"screen"``), which
must never complete.

Liveness: a recording cannot answer a prompt drawn at random, so ``customer="clip"`` runs the
labelled clip-driven mode (:mod:`terminal.emulator.clip_liveness`: the prompt is fixed to a
blink and the clip answers it), and ``customer="scripted"`` runs the kiosk's real randomised
challenge, answered by the emulator's scripted customer acting over the recorded face
(:mod:`terminal.emulator.customer`). ``attack="swap"`` (scripted only) shows the account
holder's face for the first half second, then another person answers the prompts: the identity
check must refuse it. Default clips come from the EyeBlink8 set in
``$SCANPAY_SHARED/data/faces/video`` (``../shared`` next to the project by default).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hardware.emulated.clock import ManualClock, SteppingClock
from hardware.ports import Camera, Frame
from payments.clients.face import Consent, FaceClient
from payments.clients.gateway import GatewayClient
from payments.money import Money
from terminal.config.schema import Config, FaceSection, SmileSection
from terminal.emulator.clip_liveness import CLIP_MODE_LABEL, ClipBlinkJudge
from terminal.emulator.customer import ActingSensor, ScriptedCustomer
from terminal.emulator.session import Emulator
from terminal.errors import TerminalError
from terminal.kiosk.enroll import EnrollState, FaceEnrollment
from terminal.kiosk.face_sensor import FaceSensor, VisionFaceSensor
from terminal.kiosk.smile import Order, SmileStatus, SmileToPay
from terminal.kiosk.smile_states import SmileState
from terminal.shared_data import shared_root

Attack = Literal["none", "photo", "screen", "swap"]
Customer = Literal["clip", "scripted"]
DEMO_SUBJECT = "rider-good"
DEMO_PHONE = "13800005678"  # made up; kept only as a keyed hash by the back end
# Subject A of EyeBlink8 (videos 0-1): enrolled from one clip, paying with another.
ENROLL_CLIP = "video/eyeblink8/video1_blink00.mp4"
PAY_CLIP = "video/eyeblink8/video1_blink05.mp4"  # the longest clip (23 frames)
MAX_FRAMES = 900  # 30 s of video at 30 fps: every attempt ends well before
# The swap attack: the account holder's face this long, then EyeBlink8 subject B.
SWAP_AFTER_S = 0.5
SWAP_CLIP = "video/eyeblink8/video2_blink01.mp4"
SCRIPTED_LABEL = ("scripted customer: the kiosk's randomised challenge, answered by the "
                  "emulator's customer acting over the recorded face")


class SmileDemoError(TerminalError):
    """The Smile-to-Pay demo cannot run (no clip, unreadable media)."""


def shared_faces_dir() -> Path:
    """``$SCANPAY_SHARED/data/faces`` (default ``../shared`` beside the project root)."""
    return shared_root() / "data" / "faces"


def run_smile_demo(
    *,
    clip: Path | None = None,
    attack: Attack = "none",
    customer: Customer = "clip",
    config: Config | None = None,
    enroll_clip: Path | None = None,
    amount_minor: int = 2500,
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Enroll the demo customer with consent, then pay by face; returns a summary dict.

    ``clip``: the paying person's video (default: an EyeBlink8 clip from the shared data);
    ``attack``: "none" pays with the clip, "photo"/"screen" holds up a still of its first
    frame instead, "swap" changes to another person after the first half second (scripted
    customer only). ``customer``: "clip" (the recording answers a fixed blink prompt) or
    "scripted" (the kiosk's randomised challenge, acted). ``summary["completed"]`` says whether
    the payment went through.
    """
    if attack not in ("none", "photo", "screen", "swap"):
        raise SmileDemoError(f"attack must be none, photo, screen or swap, got {attack!r}")
    if customer not in ("clip", "scripted"):
        raise SmileDemoError(f"customer must be clip or scripted, got {customer!r}")
    if attack == "swap" and customer != "scripted":
        raise SmileDemoError("the swap attack needs the scripted customer (a clip cannot "
                             "answer the prompts as someone else)")
    mode = CLIP_MODE_LABEL if customer == "clip" else SCRIPTED_LABEL
    pay_clip = _media(clip, PAY_CLIP)
    enroll_from = _media(enroll_clip, ENROLL_CLIP) if enroll_clip or clip is None else pay_clip
    if config is None:
        from terminal.config import default_config_path, load_config

        config = load_config(default_config_path("kiosk"))
    face = config.face or FaceSection()
    with tempfile.TemporaryDirectory(prefix="scanpay-smile-") as tmp, \
            Emulator(config, state_dir=Path(tmp)) as emulator:
        say(f"back end     reference payment gateway at {emulator.server.url}")
        say(f"liveness     {mode}")
        gateway_settings = emulator.endpoints().gateway
        with FaceClient(gateway_settings) as faces, GatewayClient(gateway_settings) as gateway:
            enrolled = enroll_demo_customer(config, face, faces, enroll_from, say,
                                            payment_code=emulator.wallet_code(DEMO_SUBJECT))
            if not enrolled["enrolled"]:
                return {"completed": False, "attack": attack, "mode": mode,
                        "enrollment": enrolled, "payment": None}
            payment = _pay(config, face, faces, gateway, pay_clip, attack, customer,
                           amount_minor, say)
    return {"completed": payment["outcome"] == SmileState.CHARGED.value, "attack": attack,
            "customer": customer, "mode": mode, "enrollment": enrolled, "payment": payment}


def _media(given: Path | None, default: str) -> Path:
    path = Path(given) if given is not None else shared_faces_dir() / default
    if not path.is_file():
        hint = "" if given is not None else " (set SCANPAY_SHARED or pass --clip)"
        raise SmileDemoError(f"clip not found: {path}{hint}")
    return path


def enroll_demo_customer(config: Config, face: FaceSection, faces: FaceClient, clip: Path,
                         say: Callable[[str], None], *, payment_code: str) -> dict[str, Any]:
    """Consent and enroll the demo customer from ``clip``; ``payment_code`` is their wallet's
    code proving the account. Returns what happened."""
    from hardware.emulated.file_camera import FileCamera

    clock = ManualClock(0.0)
    consent = Consent(given_by="Demo Customer", purpose="smile_to_pay", retention_days=30,
                      given_at=datetime.now(UTC))
    say(f"consent      '{consent.given_by}' agrees: purpose {consent.purpose}, kept "
        f"{consent.retention_days} days, deletable any time")
    sensor = VisionFaceSensor(face, clock=clock)
    flow = FaceEnrollment(sensor=sensor, faces=faces, face=face,
                          terminal_id=config.terminal.id, clock=clock, require_liveness=False)
    say("account      the customer shows their wallet's payment code: it proves the account "
        "the face will pay from")
    flow.give_consent(consent, payment_code=payment_code, phone=DEMO_PHONE)
    try:
        with FileCamera(clip, fps="native", loop=True, limit=MAX_FRAMES) as camera:
            status = flow.run(_clocked(camera, clock))
    finally:
        sensor.close()
    ok = status.state is EnrollState.ENROLLED
    say(f"enrollment   {clip.name}: {status.state.value}"
        + (f", {status.frames} frames, template encrypted at the gateway" if ok else
           f" ({status.reason})"))
    return {"enrolled": ok, "clip": clip.name, "frames": status.frames,
            "subject_id": DEMO_SUBJECT if ok else None, "reason": status.reason}


def _pay(config: Config, face: FaceSection, faces: FaceClient, gateway: GatewayClient,
         clip: Path, attack: Attack, customer: Customer, amount_minor: int,
         say: Callable[[str], None]) -> dict[str, Any]:
    clock = ManualClock(0.0)
    smile = config.smile or SmileSection()
    acting: ActingSensor | None = None
    sensor: FaceSensor
    if customer == "scripted" and attack in ("photo", "screen"):
        # The kiosk's real challenge against the held-up still: nobody acts, the photo's own
        # landmarks are judged.
        sensor = VisionFaceSensor(face, clock=clock, rng=random.Random(7))
    elif customer == "scripted":
        sensor = acting = ActingSensor(
            VisionFaceSensor(face, clock=clock, rng=random.Random(7)),
            ScriptedCustomer(rng=random.Random(8)))
    else:
        sensor = VisionFaceSensor(face, clock=clock, judge=ClipBlinkJudge.for_sensor)
    flow = SmileToPay(sensor=sensor, faces=faces, gateway=gateway, face=face, smile=smile,
                      terminal_id=config.terminal.id, clock=clock)
    order = Order("demo-order-1", Money(amount_minor, smile.currency), "Demo meal")
    shows = {"none": f"their face ({clip.name})",
             "swap": f"the account holder's face ({clip.name}), then another person's after "
                     f"{SWAP_AFTER_S:g} s"}.get(attack, f"a {attack} of the customer")
    say(f"order        {order.amount.format()}; customer shows {shows}")
    prompts: list[str] = []
    frames = 0
    started = time.perf_counter()
    try:
        with _camera(clip, attack) as camera:
            status = flow.start(order)
            prompts.append(status.prompt)
            for frame in _clocked(camera, clock):
                frames += 1
                if acting is not None:
                    acting.show(status.action, frame.timestamp)
                status = flow.on_frame(frame.image, frame.timestamp)
                if status.state is SmileState.DIGITS:
                    status = type_demo_digits(flow, status, say)
                if status.prompt != prompts[-1]:
                    prompts.append(status.prompt)
                    say(f"screen       {status.prompt}")
                if status.done:
                    break
            else:
                status = flow.tick()
    finally:
        sensor.close()
    for reason in status.reasons:
        say(f"{'':<13}· {reason.text}  [{reason.code}]")
    say(f"outcome      {status.state.value} after {frames} frames, "
        f"{time.perf_counter() - started:.2f} s of computing")
    return {"outcome": status.state.value, "reason_codes": list(status.reason_codes),
            "reasons": [r.text for r in status.reasons], "prompts": prompts,
            "digits_asked": status.digits_asked, "frames": frames,
            "decision_s": None if status.decision_s is None else round(status.decision_s, 3),
            "wall_s": round(time.perf_counter() - started, 3),
            "charge_id": status.charge_id, "liveness": status.liveness}


def type_demo_digits(flow: SmileToPay, status: SmileStatus, say: Callable[[str], None]
                     ) -> SmileStatus:
    """The demo customer types the phone digits the screen asks for."""
    while status.state is SmileState.DIGITS:
        typed = DEMO_PHONE[-4:] if status.digits_asked == "last4" else DEMO_PHONE
        say(f"screen       {status.prompt}")
        say(f"keypad       customer types {len(typed)} digits")
        status = flow.enter_digits(typed)
    return status


def _camera(clip: Path, attack: Attack) -> Camera:
    from hardware.emulated.file_camera import FileCamera

    if attack == "none":
        return FileCamera(clip, fps="native", loop=True, limit=MAX_FRAMES)
    if attack == "swap":
        return _Swap(FileCamera(clip, fps="native", loop=True, limit=MAX_FRAMES),
                     FileCamera(_media(None, SWAP_CLIP), fps="native", loop=True,
                                limit=MAX_FRAMES), SWAP_AFTER_S)
    from hardware.emulated.held_photo import HeldPhotoCamera

    with FileCamera(clip, limit=1) as first:
        frame = first.read()
    if frame is None:
        raise SmileDemoError(f"no frame in {clip}")
    return HeldPhotoCamera(_portrait(frame.image), medium="print" if attack == "photo" else
                           "screen", clock=SteppingClock(1 / 30), limit=MAX_FRAMES)


def _portrait(image: np.ndarray) -> np.ndarray:
    """The face and shoulders cut from a frame, as a printed portrait would show them."""
    from vision.face.tracker import FaceTracker

    with FaceTracker(mode="image") as tracker:
        observation = tracker.process(image)
    if observation is None:
        return image
    h, w = image.shape[:2]
    rows, cols = observation.box.scaled(2.2).slices(w, h)
    return np.ascontiguousarray(image[rows, cols])


class _Swap:
    """One person in front of the camera until ``after_s`` (media time), then another."""

    def __init__(self, first: Camera, second: Camera, after_s: float) -> None:
        self._first, self._second, self._after = first, second, after_s

    @property
    def size(self) -> tuple[int, int]:
        """The first camera's frame size."""
        return self._first.size

    def read(self) -> Frame | None:
        """The first person's frame until the swap, then the other's at the same time."""
        frame = self._first.read()
        if frame is None or frame.timestamp < self._after:
            return frame
        other = self._second.read()
        return None if other is None else replace(other, timestamp=frame.timestamp,
                                                  index=frame.index)

    def close(self) -> None:
        """Close both cameras."""
        self._first.close()
        self._second.close()

    def __enter__(self) -> _Swap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clocked(camera: Camera, clock: ManualClock) -> Iterator[Frame]:
    """Frames of ``camera``, moving ``clock`` to each frame's timestamp (media time)."""
    while (frame := camera.read()) is not None:
        if frame.timestamp > clock():
            clock.advance(frame.timestamp - clock())
        yield frame
