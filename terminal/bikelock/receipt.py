"""The rider's receipt of a settled ride: what was paid, and why the deposit was (not) held.

The deposit decision's summary and reasons are the very ones the decision screen showed and the
``deposit.*`` event logged (codes and plain words, with the points of each scored factor), so a
rider holding the receipt can match it against their score report. No phone number, no score
history beyond the reasons, nothing biometric.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from payments.money import Money
from terminal.bikelock.rental import Rental

_PAID_BY = {"charge": "charged to your wallet", "deposit": "taken from the deposit",
            "unpaid": "declined; recorded as owed", "free": "no fare",
            "elsewhere": "settled elsewhere"}
_DEPOSIT = {"waived": "no deposit needed", "required": "deposit held and released",
            "declined": "ride refused"}


def ride_receipt(rental: Rental, *, fare_currency: str,
                 operator: str = "ScanPay bike share") -> dict[str, Any]:
    """The receipt of ``rental`` as data (the unit's page renders it; :func:`receipt_text`
    prints it)."""
    minutes = None
    if rental.unlocked_at is not None and rental.closed_at is not None:
        minutes = max(0, round((rental.closed_at - rental.unlocked_at) / 60.0))
    fare = Money(rental.fare_minor, fare_currency) if rental.fare_minor is not None else None
    deposit = (Money(rental.deposit_minor, rental.currency) if rental.deposit_minor else None)
    return {
        "operator": operator,
        "ride_id": rental.ride_id,
        "ended_at": None if rental.closed_at is None else
        datetime.fromtimestamp(rental.closed_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": minutes,
        "fare": None if fare is None else fare.format(),
        "paid_by": _PAID_BY.get(rental.fare_paid_by or "", rental.fare_paid_by),
        "deposit": _DEPOSIT.get(rental.outcome or "", rental.outcome),
        "deposit_amount": None if deposit is None else deposit.format(),
        "summary": None if rental.summary is None else dict(rental.summary),
        "reasons": [{k: r[k] for k in ("code", "text", "points") if k in r}
                    for r in rental.reasons],
    }


def receipt_text(receipt: dict[str, Any]) -> str:
    """The receipt as plain lines (a transcript, a printer, a QR's text)."""
    lines = [str(receipt["operator"]), f"Ride {receipt['ride_id']}"]
    if receipt["ended_at"]:
        lines.append(f"Ended {receipt['ended_at']}"
                     + (f" after {receipt['minutes']} min" if receipt["minutes"] is not None
                        else ""))
    if receipt["fare"]:
        lines.append(f"Fare {receipt['fare']} ({receipt['paid_by']})")
    deposit = receipt["deposit"] or "-"
    if receipt["deposit_amount"]:
        deposit += f" ({receipt['deposit_amount']})"
    lines.append(f"Deposit: {deposit}")
    if receipt["summary"]:
        lines.append(str(receipt["summary"]["text"]))
    for reason in receipt["reasons"]:
        lines.append(f"- {reason['text']} [{reason['code']}]")
    return "\n".join(lines)
