"""A scripted bike rental on the emulator: back end on loopback, synthetic camera, emulated lock.

The rider's wallet app is played by the back end's emulator-only route that issues a payment
code; the synthetic camera shows that code on a phone held up to the lock; the unit scans it
with the same decoder a real unit uses; the simulated ride advances the unit's clock (no
waiting); the emulated lock is closed by the script.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.emulated.clock import ManualClock
from payments.money import Money
from terminal.bikelock.receipt import receipt_text
from terminal.bikelock.rental import Rental
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import Notice
from terminal.config.schema import Config
from terminal.emulator.session import Emulator
from vision.qr import QrDecoder, QrScanner

RIDERS: dict[str, str] = {
    "good": "rider-good",
    "low": "rider-low",
    "blacklisted": "rider-blacklisted",
    "broke": "rider-broke",
}

_OUTCOMES = {
    RideState.SETTLED: "completed",
    RideState.DECLINED: "declined",
    RideState.REJECTED: "rejected",
    RideState.ABANDONED: "abandoned",
    RideState.FAILED: "failed",
}


def run_bike_demo(
    config: Config,
    *,
    rider: str = "good",
    ride_minutes: float = 47.0,
    say: Callable[[str], None] = lambda line: None,
    state_dir: Path | None = None,
) -> dict[str, Any]:
    """Run one rental for the seeded ``rider``; returns the summary the CLI prints."""
    if rider not in RIDERS:
        raise ValueError(f"unknown rider {rider!r} (choose from {', '.join(RIDERS)})")
    with tempfile.TemporaryDirectory(prefix="scanpay-demo-") as tmp:
        root = state_dir or Path(config.terminal.state_dir or tmp)
        return _run(config, RIDERS[rider], ride_minutes, say, root)


def _run(config: Config, subject: str, ride_minutes: float, say: Callable[[str], None],
         root: Path) -> dict[str, Any]:
    with Emulator(config, state_dir=root) as emulator:
        say(f"back end     reference score service + payment gateway at {emulator.server.url}")
        clock = ManualClock(time.time())

        def notice(n: Notice) -> None:
            say(f"{n.state.value:<15} {n.text}")
            summary = n.data.get("summary")
            reasons = n.data.get("reasons", [])
            if summary and [summary] != reasons:
                say(f"{'':<15}   {summary['text']}")
            for reason in reasons:
                events = reason.get("event_ids") or ()  # the ids are in --json
                tail = f"; {len(events)} event(s)" if events else ""
                say(f"{'':<15}   · {reason['text']}  [{reason['code']}{tail}]")
            if "receipt" in n.data:
                say(f"{'receipt':<15} " + receipt_text(n.data["receipt"]).replace(
                    "\n", "\n" + " " * 16))

        fleet = emulator.fleet_settings()
        with BikeLockStack(config, emulator.endpoints(), state_dir=root / "unit", clock=clock,
                           on_notice=notice, fleet=fleet) as stack:
            if stack.fleet is not None and emulator.fleet is not None:
                stack.fleet.start()
                say(f"fleet        unit {config.terminal.id} on MQTT at {emulator.fleet.url} "
                    f"(heartbeats, alarms, events; the back end's bridge ingests them)")
            code = emulator.wallet_code(subject)
            say(f"rider        {subject} shows a payment code on their phone ({len(code)} chars)")
            stack.camera.show(code)  # type: ignore[attr-defined]
            with QrDecoder(budget_ms=config.scan.budget_ms) as decoder, QrScanner(
                stack.camera, decoder, confirm_frames=config.scan.confirm_frames
            ) as scanner:
                seen = scanner.next_code(timeout_s=config.scan.timeout_s)
                frames = scanner.stats.processed
            if seen is None:
                say("camera       no payment code read before the time-out")
                return {"outcome": "failed", "error": "no code read"}
            say(f"camera       QR read by {seen.code.engine} in {seen.decode_ms:.1f} ms "
                f"({frames} frame(s) decoded)")
            stack.unit.present_code(seen.code.payload)
            if stack.unit.state is RideState.RIDING:
                say(f"ride         rider cycles for {ride_minutes:g} minutes (simulated clock)")
                clock.advance(ride_minutes * 60)
                stack.lock.close_latch()  # type: ignore[attr-defined]
            rental = stack.unit.last or stack.unit.rental
            assert rental is not None
            report = stack.uploader.flush(deadline_s=10.0)
            logged = stack.unit.events_logged
            over = " over MQTT" if stack.fleet is not None and stack.fleet.drain else ""
            say(f"events       {logged} logged durably, {report.delivered} uploaded to the "
                f"score service{over}" + (f" ({report.pending} pending)" if report.pending
                                          else ""))
            return _summary(config, rental, logged, report.delivered)


def _summary(config: Config, rental: Rental, logged: int, uploaded: int) -> dict[str, Any]:
    fare_minor = rental.fare_minor or 0
    return {
        "outcome": _OUTCOMES.get(rental.state, rental.state.value),
        "ride_id": rental.ride_id,
        "subject_id": rental.subject_id,
        "score": rental.score,
        "decision": {
            "outcome": rental.outcome,
            "deposit_required": rental.outcome == "required",
            "amount_minor": rental.deposit_minor,
            "currency": rental.currency,
            "summary": rental.summary,
            "reason_codes": [r["code"] for r in rental.reasons],
            "reasons": [r["text"] for r in rental.reasons],
            "reason_details": [dict(r) for r in rental.reasons],
        },
        "fare": {
            "amount_minor": fare_minor,
            "currency": config.fare.currency,
            "text": str(Money(fare_minor, config.fare.currency)),
            "paid_by": rental.fare_paid_by,
        },
        "events_logged": logged,
        "events_uploaded": uploaded,
    }
