"""Fleet routes: vehicles and remote commands (operator role), and the public GBFS feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.context import BackendDep, CallerDep
from backend.fleet import commands, dead_letters, gbfs, service, state
from backend.idempotency import IdempotencyKey, run_idempotent

SCHEMA_SQL = state.SCHEMA_SQL + commands.SCHEMA_SQL + """
CREATE INDEX IF NOT EXISTS events_by_terminal_time ON events(terminal_id, time);
"""
MIGRATIONS = state.MIGRATIONS + dead_letters.MIGRATIONS

router = APIRouter(tags=["fleet"])

DeviceId = Annotated[str, Path(max_length=64)]
AlarmCode = Annotated[str, Path(max_length=32)]


class CommandRequest(BaseModel):
    """A remote command for one vehicle."""

    command: str = Field(description="unlock, lock, find or set_interval")
    args: dict[str, Any] = Field(default_factory=dict,
                                 description='set_interval: {"heartbeat_s": 10..3600}')
    deadline_s: float | None = Field(
        default=None, description=f"seconds the unit has to act (default "
                                  f"{commands.DEFAULT_DEADLINE_S:g}, at most "
                                  f"{commands.MAX_DEADLINE_S:g})")


@router.get("/v1/fleet/vehicles", summary="Every vehicle: MDS state, battery, last seen, alarms")
def get_vehicles(backend: BackendDep, _caller: CallerDep,
                 state_filter: Annotated[str | None, Query(alias="state", max_length=32)] = None
                 ) -> dict[str, Any]:
    """The fleet list, ordered by device id; ``?state=`` keeps one MDS state."""
    return service.list_vehicles(backend, state_filter)


@router.get("/v1/fleet/vehicles/{device_id}", summary="One vehicle with recent events, alarms "
                                                      "and commands")
def get_vehicle(device_id: DeviceId, backend: BackendDep, _caller: CallerDep) -> dict[str, Any]:
    """Detail of one vehicle; ``404 unknown_vehicle``."""
    return service.vehicle_detail(backend, device_id)


@router.post("/v1/fleet/vehicles/{device_id}/commands", status_code=202,
             summary="Send a remote command (Idempotency-Key)")
def post_command(device_id: DeviceId, body: CommandRequest, request: Request,
                 backend: BackendDep, caller: CallerDep, key: IdempotencyKey) -> JSONResponse:
    """Issue unlock / lock / find / set_interval; ``202 {"command_id", "status": "sent"}``.
    The same Idempotency-Key returns the same command (never a second one)."""
    now = backend.now()

    def operation(conn: Any) -> tuple[int, dict[str, Any]]:
        return 202, service.issue_command(conn, device_id, body.command, body.args,
                                          body.deadline_s, issued_by=caller.terminal_id,
                                          now=now)

    response = run_idempotent(request, terminal_id=caller.terminal_id, key=key,
                              body=body.model_dump(), operation=operation)
    service.wake_bridge(backend)
    return response


@router.post("/v1/fleet/vehicles/{device_id}/alarms/{code}/clear",
             summary="Clear a vehicle's open alarm (Idempotency-Key)")
def post_alarm_clear(device_id: DeviceId, code: AlarmCode, request: Request,
                     backend: BackendDep, caller: CallerDep, key: IdempotencyKey
                     ) -> JSONResponse:
    """Close the vehicle's open ``code`` alarm, recording who and when; ``200 {"cleared",
    "cleared_at", "cleared_by", "state", "alarms"}``. ``409 alarm_not_open`` when none is
    open; the same Idempotency-Key replays the first answer."""
    now = backend.now()

    def operation(conn: Any) -> tuple[int, dict[str, Any]]:
        return 200, service.clear_alarm(conn, device_id, code, cleared_by=caller.terminal_id,
                                        now=now)

    return run_idempotent(request, terminal_id=caller.terminal_id, key=key, body={},
                          operation=operation)


@router.get("/v1/fleet/commands/{command_id}", summary="A command's status")
def get_command(command_id: Annotated[str, Path(max_length=64)], backend: BackendDep,
                _caller: CallerDep) -> dict[str, Any]:
    """``sent``, ``done``, ``failed``, ``expired``, ``refused`` or ``timed_out``."""
    return service.command_status(backend, command_id)


@router.get("/v1/fleet/dead-letters", summary="Unit messages the database refused for good")
def get_dead_letters(backend: BackendDep, _caller: CallerDep,
                     limit: Annotated[int, Query(ge=1, le=dead_letters.MAX_LISTED)] = 100
                     ) -> dict[str, Any]:
    """``{"count", "dead_letters": [{"id", "topic", "device_id", "payload", "error", "at"}]}``,
    newest first: messages the bridge quarantined (acknowledged, not applied)."""
    return service.dead_letter_list(backend, limit)


@router.get("/gbfs/vehicle_status.json", summary="GBFS 3.0 vehicle status (public)")
def get_gbfs_vehicle_status(backend: BackendDep) -> JSONResponse:
    """Parked vehicles with rotating ids; never one on a trip."""
    with backend.store.read() as conn:
        doc = gbfs.vehicle_status(conn, backend.now())
    return JSONResponse(doc, headers={"Cache-Control": f"max-age={gbfs.TTL_S}"})
