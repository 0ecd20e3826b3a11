"""The console's fleet pages: the list (refreshing itself), a unit's detail, remote commands."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from backend.console import fleet_view
from backend.console.render import (
    SECURITY_HEADERS,
    format_time,
    language,
    render_fragment,
    render_page,
)
from backend.console.texts import service_text, text, text_or
from backend.console.web import (
    PREFIX,
    Refused,
    backend_of,
    guarded,
    redirect,
    service_refused,
    signed_in,
    signed_in_form,
)

router = APIRouter(include_in_schema=False)
REFRESH_S = 5
_DEVICE_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_COMMAND_RE = re.compile(r"cmd_[0-9a-f]{32}")
_ALARM_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")


@router.get(f"{PREFIX}/fleet")
@guarded
async def fleet_page(request: Request, state: str = "") -> Response:
    """Every unit with its state, battery, last seen, online and open alarms."""
    session = await signed_in(request)
    backend = backend_of(request)
    state = state if state in fleet_view.MDS_STATES else ""
    lang = language(request)
    rows, problem, letters = await run_in_threadpool(_fleet, backend, state)
    return render_page(request, "fleet.html", {
        "title": text(lang, "fleet.title"), "section": "fleet", "session": session,
        "states": fleet_view.MDS_STATES, "state": state, "rows": rows, "refresh_s": REFRESH_S,
        "fleet_ready": problem is None,
        "fleet_problem": "" if problem is None else service_text(lang, problem.code,
                                                                   str(problem)),
        "dead_letters": letters or 0}, now=backend.now())


@router.get(f"{PREFIX}/fleet/rows")
@guarded
async def fleet_rows(request: Request, state: str = "") -> Response:
    """The fleet table's rows as HTML rendered by the server, with the caption, the time and
    the dead-letter notice (the page polls this and replaces each)."""
    await signed_in(request)
    backend = backend_of(request)
    state = state if state in fleet_view.MDS_STATES else ""
    rows, _, letters = await run_in_threadpool(_fleet, backend, state)
    now, lang = backend.now(), language(request)
    html = render_fragment(request, "fleet_rows.html", {"rows": rows, "state": state}, now=now)
    caption = text(lang, "fleet.caption_state" if state else "fleet.caption", n=len(rows),
                   state=text_or(lang, f"state.{state}", state))
    return JSONResponse({"rows_html": html, "caption": caption, "count": len(rows),
                         "updated": text(lang, "fleet.updated", time=format_time(now),
                                         n=REFRESH_S),
                         "dead_letters": letters or 0,
                         "dead_letters_text": text(lang, "fleet.dead_letters", n=letters)
                         if letters else ""}, headers=dict(SECURITY_HEADERS))


@router.get(PREFIX + "/fleet/{device_id}")
@guarded
async def vehicle_page(request: Request, device_id: str, command: str = "",
                       cleared: str = "") -> Response:
    """One unit: its facts, alarms, recent events and telemetry, commands and their acks
    (``cleared``: the alarm code an operator just cleared, shown as a notice)."""
    session = await signed_in(request)
    backend = backend_of(request)
    if not _DEVICE_RE.fullmatch(device_id):
        raise Refused(404, "error.no_such_unit")
    detail = await run_in_threadpool(fleet_view.vehicle, backend, device_id)
    if detail is None:
        raise Refused(404, "error.no_unit", id=device_id)
    shown = None
    if _COMMAND_RE.fullmatch(command):
        shown = await run_in_threadpool(fleet_view.command, backend, command)
        if shown is not None and shown.get("device_id") not in (None, device_id):
            shown = None
    return render_page(request, "vehicle.html", {
        "title": text(language(request), "unit.title", id=device_id), "section": "fleet",
        "session": session, "v": detail, "commands": fleet_view.COMMANDS, "command": shown,
        "cleared": cleared if _ALARM_RE.fullmatch(cleared) else "",
        "deadline_s": fleet_view.DEADLINE_S}, now=backend.now())


@router.post(PREFIX + "/fleet/{device_id}/commands")
@guarded
async def send_command(request: Request, device_id: str) -> Response:
    """Send unlock / lock / find to a unit; the unit page then follows its acknowledgement."""
    session, form = await signed_in_form(request)
    backend = backend_of(request)
    name = form.get("command", "")
    if name not in fleet_view.COMMANDS or not _DEVICE_RE.fullmatch(device_id):
        raise Refused(400, "error.bad_command")
    try:
        sent = await run_in_threadpool(fleet_view.send, backend, device_id, name,
                                       session.operator_id)
    except fleet_view.FleetProblem as exc:
        raise service_refused(exc, device=device_id, command=name) from None
    return redirect(f"{PREFIX}/fleet/{device_id}", command=sent["command_id"])


@router.post(PREFIX + "/fleet/{device_id}/alarms/{code}/clear")
@guarded
async def clear_alarm(request: Request, device_id: str, code: str) -> Response:
    """Close a unit's open alarm (who and when recorded); back to the unit page."""
    session, _ = await signed_in_form(request)
    if not _DEVICE_RE.fullmatch(device_id) or not _ALARM_RE.fullmatch(code):
        raise Refused(404, "error.no_such_unit")
    try:
        await run_in_threadpool(fleet_view.clear_alarm, backend_of(request), device_id, code,
                                session.operator_id)
    except fleet_view.FleetProblem as exc:
        raise service_refused(exc, device=device_id, code=code) from None
    return redirect(f"{PREFIX}/fleet/{device_id}", cleared=code)


@router.get(PREFIX + "/commands/{command_id}")
@guarded
async def command_status(request: Request, command_id: str) -> Response:
    """A command's status as JSON: sent, done, failed, expired, refused or timed_out, with
    its ``label`` and ``detail_text`` in the page's language (a unit's own note as it wrote
    it, ``detail_lang`` "en")."""
    await signed_in(request)
    lang = language(request)
    found = None
    if _COMMAND_RE.fullmatch(command_id):
        found = await run_in_threadpool(fleet_view.command, backend_of(request), command_id)
    if found is None:
        return JSONResponse({"error": text(lang, "service.unknown_command")}, status_code=404,
                            headers=dict(SECURITY_HEADERS))
    label = text(lang, f"status.{found['status']}")
    own = bool(found["detail"]) and not found["detail_id"]
    detail = text(lang, found["detail_id"]) if found["detail_id"] else found["detail"]
    return JSONResponse({**found, "label": label, "detail_text": detail,
                         "detail_lang": "en" if own else ""}, headers=dict(SECURITY_HEADERS))


def _fleet(backend: Any, state: str
           ) -> tuple[list[dict[str, Any]], fleet_view.FleetProblem | None, int | None]:
    """The fleet list's rows (only ``state`` when set), the service's problem if it failed,
    and the dead-letter count (None after a problem, or when the service cannot tell)."""
    try:
        rows = fleet_view.vehicles(backend, state or None)
    except fleet_view.FleetProblem as exc:
        return [], exc, None
    return rows, None, fleet_view.dead_letter_count(backend)
