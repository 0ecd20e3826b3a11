"""A whole kiosk on loopback for tests: the reference back end, the kiosk's web app, a camera
the test switches (nothing / a phone showing a code), and a synthetic person in front of it.

The person is the Smile-to-Pay tests' scripted face (``tests.smile_synth``): the kiosk's real
flow, liveness session, risk rule, gateway match and charge all run; only the pixels-to-landmarks
step is replaced by observations of a person who answers the prompt the screen shows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from hardware.emulated.switchable_camera import SwitchableCamera
from payments.clients.face import Consent, FaceClient
from payments.events import Event
from terminal.config import default_config_path, load_config
from terminal.config.schema import Config, FaceSection, KioskSection
from terminal.emulator.session import Emulator
from terminal.kiosk.app import KioskApp
from tests.smile_synth import Person, ScriptedSensor, identity

PHONE = "13800001234"
STAFF_PIN = "2468"


class PersonSensor(ScriptedSensor):
    """The face sensor over :attr:`person` (None: nobody in front of the camera)."""

    def __init__(self, seed: int, *, clock: Any) -> None:
        super().__init__(identity(seed), clock=clock)
        self.person: Person | None = None

    def show(self, action: str | None, t: float) -> None:
        """The kiosk shows ``action``; the person in view reacts in the next frame."""
        self.next = None if self.person is None else self.person.observe(t, action)


@dataclass
class KioskRig:
    """A running kiosk with its back end, camera and (synthetic) customer."""

    config: Config
    emulator: Emulator
    app: KioskApp
    camera: SwitchableCamera
    sensors: list[PersonSensor] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The customer's page."""
        return self.app.url

    def step_in(self, person: Person | None) -> None:
        """``person`` stands in front of the camera (None: they walk away)."""
        for sensor in self.sensors:
            sensor.person = person

    def show_wallet_code(self, subject_id: str = "rider-good") -> str:
        """The customer holds up a fresh wallet payment code of ``subject_id``."""
        code = self.emulator.wallet_code(subject_id)
        self.camera.show_code(code, label=f"wallet code of {subject_id}")
        return code

    def phone_pays_screen_qr(self) -> None:
        """The customer's phone pays the merchant QR the kiosk shows now."""
        order = self.app.flow.snapshot()["order"]["order_id"]
        attempt = self.app.flow.visit.attempt
        response = requests.post(
            f"{self.emulator.server.url}/v1/dev/orders/{order}P{attempt}/pay",
            headers={"Authorization": f"Bearer {self.emulator.api_key}"}, timeout=5)
        response.raise_for_status()

    def enroll(self, subject_id: str = "rider-good", *, seed: int = 1,
               phone: str = PHONE) -> None:
        """Enroll ``subject_id``'s face (seed ``seed``) through the gateway, as a past visit did."""
        vec = identity(seed)
        frames = [(vec + 0.02 * identity(100 + i)).tolist() for i in range(3)]
        consent = Consent("Test Shopper", "smile_to_pay", 30, datetime.now(UTC))
        with FaceClient(self.emulator.endpoints().gateway) as faces:
            faces.enroll(payment_code=self.emulator.wallet_code(subject_id), phone=phone,
                         embeddings=frames, consent=consent)

    def screen(self) -> dict[str, Any]:
        """The kiosk's screen as data."""
        return self.app.flow.snapshot()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait for the kiosk's worker threads to make ``predicate`` true."""
    deadline = time.monotonic() + timeout_s
    wake = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s:.0f} s")
        wake.wait(0.02)


def kiosk_config(**kiosk: Any) -> Config:
    """The embedded emulator kiosk configuration with ``[kiosk]`` values replaced."""
    config = load_config(default_config_path("kiosk"))
    section = replace(config.kiosk or KioskSection(), staff_pin=STAFF_PIN, port=0, **kiosk)
    face = replace(config.face or FaceSection(), embed_workers=0)
    return replace(config, kiosk=section, face=face)


@contextmanager
def kiosk_rig(tmp_path: Path, *, face_seed: int = 1, config: Config | None = None,
              **app_kwargs: Any) -> Iterator[KioskRig]:
    """A kiosk serving on loopback against the reference back end; closed afterwards."""
    config = config or kiosk_config()
    sensors: list[PersonSensor] = []

    def sensor_factory(face: FaceSection, clock: Any) -> PersonSensor:
        sensor = PersonSensor(face_seed, clock=clock)
        sensors.append(sensor)
        return sensor

    with ExitStack() as stack:
        (tmp_path / "backend").mkdir(parents=True, exist_ok=True)
        emulator = stack.enter_context(Emulator(config, state_dir=tmp_path / "backend"))
        camera = SwitchableCamera(size=(640, 480), fps=15.0)
        events: list[Event] = []
        app = KioskApp(config, emulator.endpoints(), state_dir=tmp_path / "kiosk",
                       camera=camera, port=0, on_event=events.append,
                       sensor_factory=sensor_factory, **app_kwargs)
        stack.enter_context(app)
        yield KioskRig(config, emulator, app, camera, sensors, events)
