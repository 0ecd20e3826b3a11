"""The developer emulator as a web app: back end, link, one device and the dev panel together.

``EmulatorSite("bike")`` starts the reference back end on loopback, a switchable link per
service (score service, payment gateway) between the device and the back end, the device on
a switchable camera — a bike-lock unit with its status page, or the ordering kiosk — and the
dev panel that drives them. Close it (or leave the ``with`` block) to stop everything.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from hardware.emulated.switchable_camera import SwitchableCamera
from payments.clients.http import ServiceSettings
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import Notice
from terminal.config.schema import Config, FaceSection
from terminal.emulator.link import Link
from terminal.emulator.panel.eventlog import EventLog
from terminal.emulator.panel.sources import CameraDesk, Clip, faces_video_dir, find_clips
from terminal.emulator.session import Emulator, EmulatorError
from terminal.endpoints import Endpoints

log = logging.getLogger(__name__)

DeviceKind = Literal["bike", "kiosk"]
DEVICES: tuple[DeviceKind, ...] = ("bike", "kiosk")
_ROLES = {"bike": "bike-lock", "kiosk": "kiosk"}


class EmulatorSite:
    """Everything ``scanpay emulate`` runs; :attr:`device_url` and :attr:`panel_url` after start."""

    def __init__(self, device: DeviceKind, *, config: Config | None = None,
                 host: str = "127.0.0.1", port: int = 0, state_dir: Path | None = None,
                 clips: list[Clip] | None = None) -> None:
        if device not in DEVICES:
            raise EmulatorError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
        self.device_kind: DeviceKind = device
        self.config = config or _default_config(device)
        role = self.config.terminal.role
        if role != _ROLES[device]:
            raise EmulatorError(f"--device {device} needs a {_ROLES[device]} configuration, "
                                f"this one describes a {role}")
        self._host, self._port = host, port
        self._state_dir = state_dir
        self._clips = clips
        self._stack = ExitStack()
        self.device_url = ""
        self.panel_url = ""
        self.log = EventLog()
        self.emulator: Emulator | None = None
        self.links: dict[str, Link] = {}
        self.camera: SwitchableCamera | None = None
        self.desk: CameraDesk | None = None
        self.device: Any = None
        self.panel: Any = None
        self._started = False

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> EmulatorSite:
        """Start the back end, the links, the device and the panel; returns self."""
        if self._started:
            return self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        from terminal.web.server import WebServer

        stack = self._stack
        root = self._state_dir or Path(self.config.terminal.state_dir or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="scanpay-emulate-")))
        self.emulator = emulator = stack.enter_context(Emulator(self.config, state_dir=root))
        target = _address(emulator.server.url)
        for name in ("score", "gateway"):
            self.links[name] = stack.enter_context(
                Link(target, host="127.0.0.1", name=f"{name}-link"))
        cam = self.config.camera
        self.camera = camera = SwitchableCamera(size=(cam.width, cam.height), fps=cam.fps)
        stack.callback(camera.close)
        clips = self._clips if self._clips is not None else find_clips(faces_video_dir())
        self.desk = desk = CameraDesk(camera, wallet_code=emulator.wallet_code,
                                      subjects=emulator.subjects(), clips=clips)
        endpoints = self._endpoints(emulator)
        bike = None
        if self.device_kind == "bike":
            bike = self._start_bike(endpoints, root / "unit")
        else:
            self._start_kiosk(endpoints, root / "kiosk")
        from terminal.emulator.panel.app import Panel

        kiosk = self.device_kind == "kiosk"
        faces = kiosk and self.config.face is not None
        self.panel = panel = Panel(
            device_kind=self.device_kind, device_url=self.device_url, desk=desk, log=self.log,
            links=self.links, bike=bike, phone=self._pay_screen_qr if kiosk else None,
            enroll=self._enroll if faces else None,
            phone_digits=_phone_tail() if faces else "")
        server = WebServer(panel.app(), host=self._host, port=self._port,
                           name="scanpay-panel").start()
        stack.callback(server.close)
        stack.callback(panel.close)  # open event streams end before the server stops
        self.panel_url = server.url
        camera.on_change(lambda: panel.publish("camera"))
        for link in self.links.values():
            link.on_change(lambda: panel.publish("links"))
        self.log.on_change(lambda: panel.publish("log"))
        panel.publish_all()

    def _start_bike(self, endpoints: Endpoints, state_dir: Path) -> Any:
        from terminal.emulator.bike_device import BikeDevice
        from terminal.emulator.panel.bike_page import BikePage
        from terminal.web.server import WebServer

        assert self.camera is not None
        pages: list[BikePage] = []

        def changed() -> None:
            for page in pages:
                page.publish()
            if self.panel is not None:
                self.panel.publish("lock")

        assert self.emulator is not None
        device = BikeDevice(self.config, endpoints, state_dir=state_dir, camera=self.camera,
                            on_event=self.log.add_event, on_notice=self._bike_notice,
                            on_change=changed, fleet=self.emulator.fleet_settings())
        self._stack.callback(device.close)
        page = BikePage(device)
        server = WebServer(page.app(), host=self._host, port=0, name="scanpay-bike-page").start()
        self._stack.callback(server.close)
        self._stack.callback(page.close)  # open event streams end before the server stops
        pages.append(page)
        device.report_links.base_url = server.url  # the report page is on the unit's page
        page.publish()
        self.device, self.device_url = device, server.url
        device.start()
        return device

    def _start_kiosk(self, endpoints: Endpoints, state_dir: Path) -> None:
        try:
            from terminal.kiosk.app import KioskApp
        except ImportError as exc:
            raise EmulatorError(f"the kiosk app cannot be loaded: {exc}") from None
        assert self.emulator is not None
        app = KioskApp(self.config, endpoints, state_dir=state_dir, camera=self.camera,
                       host=self._host, port=0, on_event=self.log.add_event,
                       sensor_factory=self._face_sensor, fleet=self.emulator.fleet_settings())
        self._stack.callback(app.close)
        app.start()
        self.device, self.device_url = app, app.url

    def _face_sensor(self, face: FaceSection, clock: Callable[[], float]) -> Any:
        from terminal.emulator.acting import PanelCustomerSensor
        from terminal.kiosk.face_sensor import VisionFaceSensor

        assert self.desk is not None
        return PanelCustomerSensor(VisionFaceSensor(face, clock=clock),
                                   acting=self.desk.customer_in_view)

    def _enroll(self, subject: str, clip: Path) -> str:
        """Enroll ``subject``'s face from ``clip`` with recorded consent, as a past visit."""
        from payments.clients.face import FaceClient
        from terminal.emulator.smile_demo import enroll_demo_customer

        assert self.emulator is not None and self.config.face is not None
        code = self.emulator.wallet_code(subject)
        with FaceClient(self.emulator.endpoints().gateway) as faces:
            result = enroll_demo_customer(self.config, self.config.face, faces, clip,
                                          lambda line: None, payment_code=code)
        if not result["enrolled"]:
            raise EmulatorError(f"no face enrolled from {clip.name}: {result['reason']}")
        self.log.add_panel("face_enrolled", f"{subject}'s face enrolled from {clip.name} "
                           f"({result['frames']} frames, consent recorded; phone ends in "
                           f"{_phone_tail()})")
        return subject

    def _pay_screen_qr(self) -> str:
        from terminal.emulator.phone import pay_screen_qr

        assert self.emulator is not None
        svg = (self.device.flow.snapshot().get("pay") or {}).get("qr_svg")
        if not svg:
            raise EmulatorError("the kiosk shows no payment QR now: choose to pay by QR on "
                                "the kiosk first")
        return pay_screen_qr(self.emulator, svg)

    def _bike_notice(self, notice: Notice) -> None:
        self.log.add_screen(notice.state.value, notice.text, notice.data)
        camera = self.camera
        if notice.state is RideState.CODE_SEEN and camera is not None \
                and camera.view.kind == "code":
            camera.show_nothing()  # the rider puts the phone away once the unit has read it

    def _endpoints(self, emulator: Emulator) -> Endpoints:
        direct = emulator.endpoints()
        return Endpoints(score=_via(direct.score, self.links["score"]),
                         gateway=_via(direct.gateway, self.links["gateway"]))

    def close(self) -> None:
        """Stop everything, the panel first and the back end last; safe to call twice."""
        self._stack.close()

    def __enter__(self) -> EmulatorSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _default_config(device: DeviceKind) -> Config:
    from terminal.config import default_config_path, load_config

    return load_config(default_config_path("emulator" if device == "bike" else "kiosk"))


def _phone_tail() -> str:
    from terminal.emulator.smile_demo import DEMO_PHONE

    return DEMO_PHONE[-4:]


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _via(settings: ServiceSettings, link: Link) -> ServiceSettings:
    return dataclasses.replace(settings, url=link.url)
