"""`scanpay demo --story dispute`: a wrong record contested, corrected, and the next ride free.

rider-low shows a payment code at a bike; the unit asks for a deposit: the score is below the
waiver threshold and the reasons name the parking violations that cost the most, each with
its events. The rider scans the QR on the decision screen (a report-link token the unit asked
for), reads the report and contests the parking report made at a legal bike bay. An operator
reviews it and corrects the record; the back end recomputes the score. At the next ride the
unit waives the deposit. Everything runs against the reference back end on loopback, through
the same clients a unit, a phone and the operator console use.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.seed import WRONG_PARKING_EVENT_ID
from hardware.emulated.clock import ManualClock
from payments.clients.http import ServiceSettings
from payments.clients.person import DisputeReviewClient, PersonClient
from terminal.bikelock.rental import Rental
from terminal.bikelock.stack import BikeLockStack
from terminal.bikelock.unit import Notice
from terminal.config.schema import Config
from terminal.emulator.session import Emulator, EmulatorError

RIDER = "rider-low"
# The operator reviewing disputes in the story (a development key with the operator role).
OPERATOR_ID = "emu-operator-0001"
RIDE_MINUTES = 18.0
DISPUTE_REASON = ("I parked in the station's bike bay, which is a legal bay; the report of a "
                  "misparked bike there is wrong.")
OPERATOR_NOTE = ("Checked the bay map: the reported place is a legal bike bay. The parking "
                 "report is removed.")


def run_dispute_story(config: Config, *, say: Callable[[str], None] = lambda line: None,
                      state_dir: Path | None = None) -> dict[str, Any]:
    """Run the story; returns the summary ``scanpay demo --story dispute --json`` prints."""
    with tempfile.TemporaryDirectory(prefix="scanpay-dispute-") as tmp:
        root = state_dir or Path(config.terminal.state_dir or tmp)
        with Emulator(config, state_dir=root) as emulator:
            return _story(config, emulator, root, say)


def _story(config: Config, emulator: Emulator, root: Path,
           say: Callable[[str], None]) -> dict[str, Any]:
    say(f"back end     reference score service + payment gateway at {emulator.server.url}")
    clock = ManualClock(time.time())
    notices: list[Notice] = []
    operator = ServiceSettings(url=emulator.server.url,
                               api_key=emulator.server.api_key_for(OPERATOR_ID))
    with BikeLockStack(config, emulator.endpoints(), state_dir=root / "unit", clock=clock,
                       on_notice=notices.append) as stack, \
            PersonClient(emulator.endpoints().score) as terminal_side, \
            DisputeReviewClient(operator) as review:
        # 1. The refused waiver.
        first = _ride(stack, emulator, clock, say, "first ride")
        if first.outcome != "required":
            raise EmulatorError(f"the story needs {RIDER}'s first ride to need a deposit; "
                                f"it was {first.outcome} (score {first.score})")
        stack.uploader.flush(deadline_s=10.0)  # the ride's events reach the score service
        # 2. The QR on the decision screen: the rider's report.
        link = terminal_side.report_link(RIDER)
        say("phone        the rider scans the QR on the decision screen: their report")
        with terminal_side.for_token(link.token) as person:
            report = person.report()
            _say_report(report, say)
            wrong = next((e for e in report.events if e.id == WRONG_PARKING_EVENT_ID), None)
            if wrong is None:
                raise EmulatorError("the report lists no parking report made at a legal bay")
            say(f"dispute      the rider contests {wrong.id} ({wrong.type}, {wrong.points:+d}): "
                f"\"{DISPUTE_REASON}\"")
            dispute = person.open_dispute("event", wrong.id, DISPUTE_REASON)
            under_review = person.report().score
            say(f"             {dispute.dispute_id}: {dispute.status}; while under review the "
                f"event does not count (score {under_review})")
            # 3. The operator's review.
            waiting = [d.dispute_id for d in review.list("under_review")]
            say(f"operator     {len(waiting)} dispute(s) under review; corrects "
                f"{dispute.dispute_id}: \"{OPERATOR_NOTE}\"")
            review.decide(dispute.dispute_id, "corrected", OPERATOR_NOTE)
            after = person.report()
            decided = next(d for d in after.disputes if d.dispute_id == dispute.dispute_id)
            for step in decided.steps:
                say(f"             step: {step.status} by {step.actor or '-'}")
            say(f"report       score recomputed: {report.score} -> {after.score}")
        # 4. The next ride.
        second = _ride(stack, emulator, clock, say, "next ride")
        stack.uploader.flush(deadline_s=10.0)
    return {
        "subject_id": RIDER,
        "score_before": first.score,
        "score_after": after.score,
        "score_under_review": under_review,
        "decision_before": _decision(first),
        "decision_after": _decision(second),
        "dispute": {"dispute_id": decided.dispute_id, "item": {"kind": decided.kind,
                                                               "id": decided.item_id},
                    "status": decided.status,
                    "steps": [s for s in decided.to_json()["steps"]]},
        "report": {"score": after.score, "range": list(after.range),
                   "baseline": after.baseline,
                   "factors": [{"code": f.code, "text": f.text, "points": f.points}
                               for f in after.factors],
                   "events": after.to_json()["events"]},
    }


def _ride(stack: BikeLockStack, emulator: Emulator, clock: ManualClock,
          say: Callable[[str], None], label: str) -> Rental:
    """One rental of the rider: code shown, decision, ride, lock closed."""
    # The unit's clock ran ahead through the simulated ride: the wallet's code must still be
    # fresh by it (a real phone's code is made on the same clock as the unit's).
    ahead = max(0, int(clock() - time.time()))
    code = emulator.wallet_code(RIDER, ttl_s=60 + ahead)
    say(f"{label:<12} {RIDER} shows a payment code")
    stack.unit.present_code(code)
    rental = stack.unit.rental or stack.unit.last
    assert rental is not None
    say(f"decision     score {rental.score}: deposit {rental.outcome}")
    if rental.summary:
        say(f"               {rental.summary['text']}")
    for reason in rental.reasons:
        events = reason.get("event_ids") or ()
        say(f"               · {reason['text']}  [{reason['code']}; {len(events)} event(s)]")
    if stack.unit.rental is not None:  # riding: the rider returns the bike on time
        clock.advance(RIDE_MINUTES * 60)
        stack.lock.close_latch()  # type: ignore[attr-defined]
        say(f"ride         {RIDE_MINUTES:g} minutes, lock closed; fare charged"
            + ("; deposit released" if rental.outcome == "required" else ""))
    return rental


def _decision(rental: Rental) -> dict[str, Any]:
    return {"outcome": rental.outcome, "deposit_required": rental.outcome == "required",
            "amount_minor": rental.deposit_minor if rental.outcome == "required" else 0,
            "currency": rental.currency, "score": rental.score, "summary": rental.summary,
            "reason_codes": [r["code"] for r in rental.reasons],
            "reasons": [dict(r) for r in rental.reasons]}


def _say_report(report: Any, say: Callable[[str], None]) -> None:
    say(f"report       score {report.score} (range {report.range[0]}-{report.range[1]}, "
        f"baseline {report.baseline}); {len(report.events)} events moved it")
    for f in report.factors:
        say(f"               {f.points:+5d}  {f.text}  [{f.code}]")
