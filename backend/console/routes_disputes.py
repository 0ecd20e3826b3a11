"""The console's dispute review: disputes under review, one dispute with its audit trail, and
the operator's decision (uphold or correct, with a note) with the person's new score."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from backend.console import disputes_view
from backend.console.render import language, render_page
from backend.console.texts import service_text, text
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
_DISPUTE_RE = re.compile(r"dsp_[0-9a-f]{8,64}")
MAX_NOTE = 2000


@router.get(f"{PREFIX}/disputes")
@guarded
async def disputes_page(request: Request, status: str = "under_review") -> Response:
    """Disputes with one status (under review by default), oldest first."""
    session = await signed_in(request)
    status = status if status in disputes_view.STATUSES else "under_review"
    lang = language(request)
    try:
        rows = await run_in_threadpool(disputes_view.disputes, backend_of(request), status)
        problem = None
    except disputes_view.DisputesProblem as exc:
        rows, problem = [], service_text(lang, exc.code, str(exc))
    return render_page(request, "disputes.html", {
        "title": text(lang, "disputes.title"), "section": "disputes",
        "session": session, "rows": rows, "status": status, "statuses": disputes_view.STATUSES,
        "disputes_ready": problem is None, "disputes_problem": problem or ""},
        now=backend_of(request).now())


@router.get(PREFIX + "/disputes/{dispute_id}")
@guarded
async def dispute_page(request: Request, dispute_id: str, decided: str = "",
                       before: str = "") -> Response:
    """One dispute: the item, the person's reason, the steps, the audit trail, the decision."""
    session = await signed_in(request)
    backend = backend_of(request)
    if not _DISPUTE_RE.fullmatch(dispute_id):
        raise Refused(404, "error.no_dispute")
    try:
        view = await run_in_threadpool(disputes_view.review, backend, dispute_id)
    except disputes_view.DisputesProblem as exc:
        raise service_refused(exc, id=dispute_id) from None
    return render_page(request, "dispute.html", {
        "title": text(language(request), "dispute.title", id=dispute_id),
        "section": "disputes", "session": session, **view, "decided": decided == "1",
        "score_before": int(before) if before.lstrip("-").isdigit() else None},
        now=backend.now())


@router.post(PREFIX + "/disputes/{dispute_id}/decision")
@guarded
async def decide(request: Request, dispute_id: str) -> Response:
    """Uphold or correct a disputed record with a note; show the person's score afterwards."""
    session, form = await signed_in_form(request)
    outcome, note = form.get("outcome", ""), form.get("note", "").strip()
    if outcome not in ("upheld", "corrected"):
        raise Refused(400, "error.choose_outcome")
    if not 1 <= len(note) <= MAX_NOTE:
        raise Refused(400, "error.note_length", n=MAX_NOTE)
    if not _DISPUTE_RE.fullmatch(dispute_id):
        raise Refused(404, "error.no_dispute")
    try:
        before = await run_in_threadpool(disputes_view.decide, backend_of(request), dispute_id,
                                         outcome, note, session.operator_id)
    except disputes_view.DisputesProblem as exc:
        raise service_refused(exc, id=dispute_id) from None
    query = {"decided": "1"}
    if before is not None:
        query["before"] = str(before)
    return redirect(f"{PREFIX}/disputes/{dispute_id}", **query)
