"""The ordering kiosk as one running process: camera, payments, order flow, screen, uploads.

:class:`KioskApp` is the kiosk's composition root. It opens what the configuration names (or
what a test or the emulator hands in), builds the three payment methods and the order flow, and
runs three things beside the web server: the camera loop (frames to the payment that wants them
and to the live preview, paced to the camera's frame rate), the ticker (timeouts, QR polling,
the receipt screen) and the event uploader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from hardware.ports import Camera
from payments.clients.face import FaceClient
from payments.clients.gateway import GatewayClient
from payments.clients.orders import OrderClient
from payments.clients.score import ScoreClient
from payments.events import Event
from payments.outbox import Outbox
from payments.uploader import Uploader
from terminal.config.schema import Config, FaceSection, KioskSection, SmileSection
from terminal.devices import open_camera
from terminal.endpoints import Endpoints
from terminal.fleet.agent import FleetAgent
from terminal.fleet.control import KioskControl
from terminal.fleet.drain import EventDrain
from terminal.fleet.settings import FleetSettings
from terminal.kiosk.catalogue import Catalogue, default_catalogue_path, load_catalogue
from terminal.kiosk.flow import KioskFlow
from terminal.kiosk.orders import OrderBook
from terminal.kiosk.paying import (
    FacePayment,
    MerchantQrPayment,
    Method,
    PaymentSession,
    WalletCodePayment,
)
from terminal.kiosk.qr_pay import KioskQrPayments
from terminal.kiosk.web.preview import PreviewHub
from terminal.web.push import Broadcaster

log = logging.getLogger(__name__)


class KioskApp:
    """One kiosk terminal: ``start()`` serves the customer's page at :attr:`url`."""

    def __init__(
        self,
        config: Config,
        endpoints: Endpoints,
        *,
        state_dir: Path,
        camera: Camera | None = None,
        host: str | None = None,
        port: int | None = None,
        on_event: Callable[[Event], None] | None = None,
        sensor_factory: Callable[[FaceSection, Callable[[], float]], Any] | None = None,
        catalogue: Catalogue | None = None,
        metrics: Any | None = None,
        preload_face: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        tick_s: float = 0.25,
        fleet: FleetSettings | None = None,
    ) -> None:
        """``fleet``: the kiosk's MQTT link (heartbeats; its events drain over it instead of the
        HTTPS uploader when events go over MQTT; lock commands are refused: no lock)."""
        self.config = config
        self._fleet_settings = fleet
        self.fleet: FleetAgent | None = None
        self.settings = config.kiosk or KioskSection()
        self._endpoints = endpoints
        self._state_dir = state_dir
        self._camera_given = camera
        self._host = host if host is not None else self.settings.host
        self._port = port if port is not None else self.settings.port
        self._on_event = on_event
        self._sensor_factory = sensor_factory
        self._catalogue = catalogue
        self._metrics = metrics  # terminal.metrics.UnitMetrics, when [metrics] is on
        # Load the face models at start (False: on the first face payment, as a memory bench
        # wants to see the kiosk before and after).
        self._preload_face = preload_face
        self._clock = clock
        self._wall = wall_clock
        self._tick_s = tick_s
        self._stack = ExitStack()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_html = ""
        self._face_sensor: Any = None
        self._decode: Callable[[Any], list[str | bytes]] | None = None
        self.broadcaster = Broadcaster()
        self.preview = PreviewHub(clock=clock)
        self.url = ""

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> KioskApp:
        """Open everything, start serving and the worker threads."""
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the threads and the server, close every part; safe to call twice."""
        self._stop.set()
        self.broadcaster.close()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._threads.clear()
        self._stack.close()

    def __enter__(self) -> KioskApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the web app calls ---------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], float]:
        """The kiosk's monotonic clock."""
        return self._clock

    def page_html(self) -> str:
        """The whole page with the current screen."""
        return self.renderer.page(self.flow.snapshot())

    def refund(self, order_id: str) -> Any:
        """Refund a paid order through the gateway (staff screen; safe to repeat)."""
        from terminal.kiosk.staff import refund_order

        return refund_order(self.orders, self.gateway, order_id, emit=self._emit,
                            terminal_id=self.config.terminal.id, wall_clock=self._wall)

    def _screen_state(self) -> str:
        """The screen shown now, for the fleet's heartbeats."""
        flow = getattr(self, "flow", None)
        return "starting" if flow is None else str(getattr(flow.state, "value", flow.state))

    # -- building -----------------------------------------------------------------------------

    def _open(self) -> None:
        from terminal.kiosk.web.app import create_kiosk_app
        from terminal.kiosk.web.render import ScreenRenderer
        from terminal.kiosk.web.texts import load_texts
        from terminal.web.server import WebServer

        config, stack = self.config, self._stack
        self._state_dir.mkdir(parents=True, exist_ok=True)
        catalogue = self._catalogue or load_catalogue(self.settings.menu
                                                      or default_catalogue_path())
        self.outbox = stack.enter_context(Outbox(self._state_dir / "outbox.sqlite3"))
        self.orders = OrderBook(self._state_dir / "kiosk.sqlite3", clock=self._wall)
        stack.callback(self.orders.close)
        gateway_settings = self._endpoints.gateway
        self.gateway = stack.enter_context(GatewayClient(gateway_settings))
        orders_client = stack.enter_context(OrderClient(gateway_settings))
        self.uploader: Uploader | EventDrain
        fleet = self._fleet_settings
        if fleet is not None:
            self.fleet = FleetAgent(fleet, KioskControl(self._screen_state),
                                    state_dir=self._state_dir, outbox=self.outbox,
                                    wall=self._wall)
            stack.callback(self.fleet.close)
        if self.fleet is not None and self.fleet.drain is not None:
            self.uploader = self.fleet.drain  # events over MQTT
        else:
            uploads = stack.enter_context(ScoreClient(self._endpoints.score))
            out = config.outbox
            self.uploader = Uploader(self.outbox, uploads, batch_size=out.batch_size,
                                     backoff_base_s=out.backoff_base_s,
                                     backoff_max_s=out.backoff_max_s)
            stack.callback(self.uploader.stop)
        self.camera = self._camera_given or open_camera(config.camera, clock=self._clock)
        stack.callback(self.camera.close)

        from terminal.kiosk.payment_journal import (
            JournaledGateway,
            JournaledOrders,
            PaymentJournal,
            reconcile,
        )

        self.journal = PaymentJournal(self._state_dir / "kiosk.sqlite3")
        stack.callback(self.journal.close)
        self._orders_client = orders_client
        # Whatever a crash or power cut left in flight is settled before the first customer.
        left = reconcile(self.journal, self.orders, self.gateway, orders_client,
                         terminal_id=config.terminal.id, wall_clock=self._wall,
                         emit=self._emit, void_open=True)
        if left:
            log.warning("kiosk: %d payment(s) from before the restart could not be checked "
                        "yet; retrying in the background", left)
        qr = KioskQrPayments(terminal_id=config.terminal.id,
                             gateway=JournaledGateway(self.gateway, self.journal, "wallet"),
                             orders=JournaledOrders(orders_client, self.journal),
                             clock=self._wall, emit=self._emit)
        payments: dict[Method, PaymentSession] = {
            "wallet": WalletCodePayment(qr, self._decoder(), clock=self._clock,
                                        timeout_s=config.scan.timeout_s),
            "qr": MerchantQrPayment(qr, clock=self._clock, wall_clock=self._wall,
                                    expires_in_s=self.settings.qr_expiry_s,
                                    poll_s=self.settings.qr_poll_s),
        }
        smile = config.smile or SmileSection()
        face_max: int | None = None
        if config.face is not None:
            payments["face"] = self._face_payment(config.face, smile, gateway_settings)
            face_max = smile.max_order_minor
        self.flow = KioskFlow(
            catalogue=catalogue, orders=self.orders, payments=payments,
            settings=self.settings, terminal_id=config.terminal.id, clock=self._clock,
            wall_clock=self._wall, face_max_minor=face_max, emit=self._emit,
            enroll=self._enroll_desk(config.face, gateway_settings),
            on_change=self._publish,
            on_payment=None if self._metrics is None else
            lambda _method, seconds, outcome: self._metrics.payment(seconds, outcome))
        texts = load_texts()
        self.renderer = ScreenRenderer(texts, art=_art(catalogue),
                                       enroll_offered=self.flow.enroll_desk is not None,
                                       wall_clock=self._wall)
        from payments.clients.person import PersonClient
        from terminal.kiosk.web.person import PersonPages

        # The person's report page (/me/<token>): calls carry the person's token, not ours.
        self.person_pages = PersonPages(stack.enter_context(PersonClient(self._endpoints.score)),
                                        texts, default_lang=self.settings.language)
        self._publish()
        server = WebServer(create_kiosk_app(self), host=self._host, port=self._port,
                           name="scanpay-kiosk")
        stack.callback(server.close)
        server.start()
        self.url = server.url
        if self.fleet is not None:
            self.fleet.start()
        self.uploader.start()
        prepare = getattr(self._face_sensor, "prepare", None) if self._preload_face else None
        if prepare is not None:  # load the face models now, not when the first customer smiles
            self._spawn(prepare, "scanpay-kiosk-face-models")
        self._spawn(self._camera_loop, "scanpay-kiosk-camera")
        self._spawn(self._ticker, "scanpay-kiosk-ticker")
        log.info("kiosk %s serving at %s", config.terminal.id, self.url)

    def _face_payment(self, face: FaceSection, smile: SmileSection, settings: Any) -> FacePayment:
        from terminal.kiosk.smile import SmileToPay

        sensor = self._sensor(face)
        faces = self._stack.enter_context(FaceClient(settings))
        from terminal.kiosk.payment_journal import JournaledGateway

        flow = SmileToPay(sensor=sensor, faces=faces,
                          gateway=JournaledGateway(self.gateway, self.journal, "face"), face=face,
                          smile=smile, terminal_id=self.config.terminal.id, clock=self._clock,
                          wall_clock=self._wall, emit=self._emit)
        return FacePayment(flow, show_prompt=getattr(sensor, "show", None))

    def _enroll_desk(self, face: FaceSection | None, settings: Any) -> Any:
        if face is None:
            return None
        from terminal.kiosk.enroll_desk import KioskEnrollDesk

        faces = self._stack.enter_context(FaceClient(settings))
        sensor = self._sensor(face)
        return KioskEnrollDesk(sensor=sensor, faces=faces, face=face,
                               terminal_id=self.config.terminal.id, clock=self._clock,
                               wall_clock=self._wall, decode=self._decoder(), emit=self._emit,
                               show_prompt=getattr(sensor, "show", None))

    def _sensor(self, face: FaceSection) -> Any:
        """The kiosk's one face sensor (models and embedding workers loaded once): payments
        and enrollment never use the camera at the same time."""
        if self._face_sensor is not None:
            return self._face_sensor
        if self._sensor_factory is not None:
            sensor = self._sensor_factory(face, self._clock)
        else:
            from terminal.kiosk.face_sensor import VisionFaceSensor

            sensor = VisionFaceSensor(face, clock=self._clock)
        self._stack.callback(sensor.close)
        self._face_sensor = sensor
        return sensor

    def _decoder(self) -> Callable[[Any], list[str | bytes]]:
        """The kiosk's one QR decoder (wallet codes and enrollment's account proof): the live
        stream decoder the bike lock's scanner uses (and ``scanpay bench qr --live`` measures),
        so consecutive camera frames help (tracked region, sharpest recent frame, stacking)."""
        if self._decode is not None:
            return self._decode
        from vision.qr import QrDecoder
        from vision.qr.cascade import CascadeSettings
        from vision.qr.stream import StreamDecoder

        cascade = self._stack.enter_context(QrDecoder(CascadeSettings(
            budget_ms=self.config.scan.budget_ms)))
        decoder = self._stack.enter_context(StreamDecoder(cascade))

        def decode(image: Any) -> list[str | bytes]:
            result = decoder.decode(image)
            if result.codes and self._metrics is not None:
                self._metrics.code_decoded(result.elapsed_ms / 1000.0)
            return [code.text or code.payload for code in result.codes]

        self._decode = decode
        return decode

    # -- running ------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self.outbox.append(event)
        self.uploader.notify()
        if self._on_event is not None:
            self._on_event(event)

    def _publish(self) -> None:
        """Render the current screen and push it to the page, if it changed."""
        snapshot = self.flow.snapshot()
        try:
            html = self.renderer.screen(snapshot)
        except Exception:  # a template bug must not undo the customer's tap: log it loudly
            log.exception("kiosk: the %s screen could not be rendered", snapshot["state"])
            return
        if html == self._last_html:
            return
        self._last_html = html
        self.broadcaster.publish("screen", {"html": html, "lang": snapshot["lang"],
                                            "state": snapshot["state"],
                                            "revision": snapshot["revision"]})

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=self._guarded, args=(target,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guarded(self, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception:  # a worker must not die silently: log, and the kiosk stays up
            log.exception("kiosk worker %s failed", threading.current_thread().name)

    def _reconcile_left_over(self) -> None:
        """Payments in flight from an earlier visit or run (not the current customer's)."""
        from terminal.kiosk.payment_journal import reconcile

        busy = self.flow.orders_in_hand()
        if all(call.order_id in busy for call in self.journal.in_flight()):
            return
        try:
            reconcile(self.journal, self.orders, self.gateway, self._orders_client,
                      terminal_id=self.config.terminal.id, wall_clock=self._wall,
                      emit=self._emit, void_open=False, skip_orders=busy)
        except Exception:
            log.exception("kiosk: re-checking earlier payments failed")

    def _camera_loop(self) -> None:
        idle = threading.Event()
        while not self._stop.is_set():
            if not self.flow.wants_camera:
                self.preview.clear()
                idle.wait(0.05)  # nothing needs the camera: do not read or decode frames
                continue
            frame = self.camera.read()
            if frame is None:
                idle.wait(0.05)
                continue
            self.preview.offer(frame.image)
            try:
                self.flow.on_frame(frame.image, frame.timestamp)
            except Exception:
                log.exception("kiosk: a camera frame could not be handled")

    def _ticker(self) -> None:
        next_reconcile = self._clock() + RECONCILE_S
        while not self._stop.wait(self._tick_s):
            if self._clock() >= next_reconcile:
                next_reconcile = self._clock() + RECONCILE_S
                self._reconcile_left_over()
            try:
                self.flow.tick()
            except Exception:
                log.exception("kiosk: timer step failed")


RECONCILE_S = 30.0  # how often payments left over from before a restart are re-checked


def _art(catalogue: Catalogue) -> dict[str, str]:
    combo = next((item for item in catalogue.items if item.combo), catalogue.items[0])
    return {"attract": combo.picture, "eat_in": "../art/eat_in.svg",
            "take_out": "../art/take_out.svg"}
