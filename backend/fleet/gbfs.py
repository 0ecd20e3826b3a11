"""GBFS 3.0 ``vehicle_status.json``: where free-floating vehicles are, without who rode them.

Only available, reserved and non-operational vehicles with a known position are listed, never
one on a trip (nor one whose state is unknown). ``vehicle_id`` is the vehicle's rotating public
id, re-issued after every trip, so trips cannot be linked through the feed.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.fleet import state

GBFS_VERSION = "3.0"
TTL_S = 30
LISTED_STATES = frozenset({"available", "reserved", "non_operational"})


def vehicle_status(conn: sqlite3.Connection, now: float) -> dict[str, Any]:
    """The ``vehicle_status.json`` document at ``now``."""
    from payments.fleet_messages import format_time

    vehicles = []
    for row, alarms in state.vehicle_rows(conn):
        mds = state.mds_state(row, (a["code"] for a in alarms), now)
        if mds not in LISTED_STATES or row["lat"] is None or row["lon"] is None:
            continue
        entry: dict[str, Any] = {
            "vehicle_id": row["gbfs_id"],
            "lat": round(float(row["lat"]), 6),
            "lon": round(float(row["lon"]), 6),
            "is_reserved": mds == "reserved",
            "is_disabled": mds == "non_operational",
            "last_reported": format_time(float(row["last_seen"])),
        }
        if row["battery_pct"] is not None:
            entry["current_fuel_percent"] = round(int(row["battery_pct"]) / 100, 2)
        vehicles.append(entry)
    vehicles.sort(key=lambda v: v["vehicle_id"])  # no order that follows the device ids
    return {"last_updated": format_time(now), "ttl": TTL_S, "version": GBFS_VERSION,
            "data": {"vehicles": vehicles}}
