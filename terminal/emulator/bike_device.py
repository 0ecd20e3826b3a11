"""A bike-lock unit running live on the emulator: the real service loop on emulated devices.

The unit is the same :class:`BikeLockStack` a Pi runs, with a switchable camera, an emulated
lock and an emulated light/buzzer, and :func:`run_service` on a thread of its own. What it
tells the rider and every event it logs reach ``on_log``; ``on_change`` hears every change a
status page should show (a state, the light, the buzzer, the latch).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.emulated.indicator import EmulatedIndicator
from hardware.emulated.lock import BatteryDrain, EmulatedLock
from hardware.emulated.switchable_camera import SwitchableCamera
from hardware.ports import Beep, IndicatorState
from payments.clients.person import PersonClient
from payments.events import Event
from payments.money import Money
from payments.outbox import Outbox
from terminal.bikelock.receipt import receipt_text, ride_receipt
from terminal.bikelock.rental import Rental
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import Notice
from terminal.config.schema import Config
from terminal.devices import lock_drain, lock_position
from terminal.endpoints import Endpoints
from terminal.fleet.settings import FleetSettings
from terminal.web.report_links import ReportLinks

log = logging.getLogger(__name__)

# What each state means for the rider, in plain words.
STATE_TEXT: dict[RideState, str] = {
    RideState.IDLE: "Ready: show your payment code to the camera",
    RideState.CODE_SEEN: "Code seen, checking it",
    RideState.PAYER_RESOLVED: "Payer found, asking for the score",
    RideState.SCORE_CHECKED: "Score received, deciding on a deposit",
    RideState.DEPOSIT_DECIDED: "Deposit decided",
    RideState.HOLD_PLACED: "Deposit held",
    RideState.UNLOCKED: "Unlocked: take the bike",
    RideState.RIDING: "Riding: close the lock to end the ride",
    RideState.LOCK_CLOSED: "Lock closed, charging the fare",
    RideState.SETTLED: "Ride ended and paid",
    RideState.REJECTED: "Code refused",
    RideState.DECLINED: "Ride declined",
    RideState.ABANDONED: "Bike not taken: ride cancelled",
    RideState.FAILED: "Something went wrong: nothing was charged",
}


class _WatchedIndicator(EmulatedIndicator):
    """The emulated light and buzzer, telling a listener about every change."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        super().__init__()
        self._listener = on_change

    def show(self, state: IndicatorState | str) -> None:
        """Switch the light and tell the listener."""
        super().show(state)
        self._listener()

    def beep(self, kind: Beep | str) -> None:
        """Sound the buzzer and tell the listener."""
        super().beep(kind)
        self._listener()


class BikeDevice:
    """One emulated bike-lock unit; :meth:`start` runs its service loop, :meth:`close` stops it."""

    kind = "bike"

    def __init__(self, config: Config, endpoints: Endpoints, *, state_dir: Path,
                 camera: SwitchableCamera, on_event: Callable[[Event], None],
                 on_notice: Callable[[Notice], None],
                 on_change: Callable[[], None] = lambda: None,
                 fleet: FleetSettings | None = None) -> None:
        self.config = config
        self.camera = camera
        self.endpoints = endpoints
        self._on_event = on_event
        self._on_notice = on_notice
        self._on_change = on_change
        self._notice: Notice | None = None
        self._mutex = threading.Lock()
        section = config.lock
        self.lock = EmulatedLock(battery=section.battery_pct,
                                 drain=BatteryDrain(*lock_drain(section)),
                                 position=lock_position(section))
        self.indicator = _WatchedIndicator(self._changed)
        self.stack = BikeLockStack(config, endpoints, state_dir=state_dir, camera=camera,
                                   lock=self.lock, indicator=self.indicator,
                                   on_notice=self._noticed, fleet=fleet)
        _tap_outbox(self.stack.outbox, on_event)
        self.lock.on_opened(self._changed)
        self.lock.on_closed(self._changed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The QR to the rider's report on the decision screen (base URL: the unit's page).
        self.report_links = ReportLinks(PersonClient(endpoints.score), on_ready=self._changed)

    def start(self) -> BikeDevice:
        """Run the unit's service loop on its own thread."""
        from terminal.bikelock.service import run_service

        if self._thread is None:
            self._thread = threading.Thread(target=run_service, args=(self.stack, self._stop),
                                            name="bike-unit", daemon=True)
            self._thread.start()
        return self

    # -- the rider's hands (panel controls) -------------------------------------------------

    def open_latch(self) -> None:
        """Open the latch by hand (as a technician would); a ride only starts from a code."""
        self.lock.unlock()

    def close_latch(self) -> None:
        """The rider pushes the latch shut: a ride in progress ends and is charged."""
        self.lock.close_latch()

    def set_battery(self, percent: float | None) -> None:
        """Set the emulated battery's charge (None: no gauge)."""
        self.lock.set_battery(percent)
        self.stack.unit.tick()  # the light shows a low battery at once
        self._changed()

    # -- what a status page shows -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The unit's state, the light and buzzer, the latch, the last notice and the rides."""
        unit = self.stack.unit
        state = unit.state
        with self._mutex:
            notice = self._notice
        beeps = self.indicator.beeps
        return {
            "state": state.value,
            "state_text": STATE_TEXT.get(state, state.value),
            "latch": "closed" if self.lock.is_closed else "open",
            "light": self.indicator.state.value,
            "beep": beeps[-1].value if beeps else None,
            "beeps": len(beeps),
            "notice": None if notice is None else {
                "state": notice.state.value, "text": notice.text,
                "reasons": [dict(r) for r in notice.data.get("reasons", ())]},
            "ride": self._with_link(_ride(unit.rental, self.config)),
            "last_ride": self._with_link(_ride(unit.last, self.config)),
            "events_logged": unit.events_logged,
            "battery": None if (level := self.lock.battery) is None else round(level, 1),
            "position": None if (where := self.lock.position) is None else
            {"lat": round(where.lat, 6), "lon": round(where.lon, 6)},
            "in_service": unit.in_service,
            "fleet": None if self.stack.fleet is None else
            {"connected": self.stack.fleet.link.connected},
        }

    def close(self) -> None:
        """Stop the service loop and close the unit's parts; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15.0)
            if self._thread.is_alive():
                log.warning("the bike unit's service loop did not stop within 15 s")
            self._thread = None
        self.report_links.close()
        self.stack.close()

    def __enter__(self) -> BikeDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _with_link(self, ride: dict[str, Any] | None) -> dict[str, Any] | None:
        if ride is not None:
            link = self.report_links.get(ride["ride_id"])
            ride["report_url"] = link.url if link else None
            ride["report_qr"] = link.qr_svg if link else None
        return ride

    def _noticed(self, notice: Notice) -> None:
        rental = self.stack.unit.rental
        if "summary" in notice.data and rental is not None and rental.subject_id:
            self.report_links.request(rental.ride_id, rental.subject_id)  # a decision
        with self._mutex:
            self._notice = notice
        self._on_notice(notice)
        self._changed()

    def _changed(self) -> None:
        try:
            self._on_change()
        except Exception:  # a page that cannot refresh must not stop the unit
            log.exception("status listener failed")


def _ride(rental: Rental | None, config: Config) -> dict[str, Any] | None:
    if rental is None:
        return None
    deposit = Money(rental.deposit_minor, rental.currency) if rental.deposit_minor else None
    fare = (Money(rental.fare_minor, config.fare.currency)
            if rental.fare_minor is not None else None)
    return {
        "ride_id": rental.ride_id,
        "state": rental.state.value,
        "subject_id": rental.subject_id,
        "score": rental.score,
        "score_offline": rental.score_offline,
        "decision": rental.outcome,
        "deposit": None if deposit is None else str(deposit),
        "summary": rental.summary,
        "reasons": [dict(r) for r in rental.reasons],
        "fare": None if fare is None else str(fare),
        "fare_paid_by": rental.fare_paid_by,
        "failure": rental.failure,
        "receipt": None if rental.state is not RideState.SETTLED else
        receipt_text(ride_receipt(rental, fare_currency=config.fare.currency)),
    }


def _tap_outbox(outbox: Outbox, listener: Callable[[Event], None]) -> None:
    """Hear every event the unit stores in ``outbox`` (the unit has no event hook of its own)."""
    append = outbox.append

    def tapped(event: Event) -> bool:
        stored = append(event)
        if stored:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")
        return stored

    outbox.append = tapped  # type: ignore[method-assign]
