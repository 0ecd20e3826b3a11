"""Disputes as the console shows them: calls :mod:`backend.disputes` and shapes its answers for
the templates (the disputed record, the steps, the audit trail and its verification, the
person's score)."""

from __future__ import annotations

import importlib
import json
from typing import Any

from backend.console.service_calls import ServiceProblem, load_service
from backend.context import Backend
from backend.errors import ApiError

STATUSES: tuple[str, ...] = ("under_review", "upheld", "corrected")


class DisputesProblem(ServiceProblem):
    """The dispute service refused or is unavailable; ``status`` is the HTTP status to show,
    ``code`` the service's error code (its words are ``service.<code>`` in texts.toml)."""

    default_code = "disputes_error"


def _service() -> Any:
    return load_service("backend.disputes",
                        DisputesProblem(503, "the dispute service is not part of this back end",
                                        "disputes_missing"))


def disputes(backend: Backend, status: str) -> list[dict[str, Any]]:
    """Disputes in ``status``, oldest first, as table rows."""
    try:
        found = _service().list_disputes(backend, status=status)
    except ApiError as exc:
        raise DisputesProblem.of(exc) from None
    return [_summary(d) for d in found]


def review(backend: Backend, dispute_id: str) -> dict[str, Any]:
    """Everything the review page shows: ``d`` (the dispute), ``score``, ``item_facts``,
    ``audit`` rows and ``audit_check`` (the whole chain's verification)."""
    service = _service()
    try:
        with backend.store.transaction() as conn:
            dispute = service.get_dispute(backend, dispute_id, conn=conn)
            trail = service.audit_trail(backend, dispute_id, conn=conn)
            score = _score(conn, dispute["subject_id"])
            facts = _item_facts(conn, dispute["item"])
    except ApiError as exc:
        raise DisputesProblem.of(exc) from None
    check = trail.get("verification", {})
    audit = [{"seq": r["seq"], "time": r["time"], "actor": r["actor"], "action": r["action"],
              "hash_short": str(r["hash"])[:12]} for r in trail.get("rows", [])]
    return {"d": {**_summary(dispute), "reason": dispute.get("reason", ""),
                  "steps": dispute.get("steps", [])},
            "score": score, "item_facts": facts, "audit": audit,
            "audit_check": {"ok": bool(check.get("ok")), "rows": check.get("rows", 0),
                            "bad_seq": check.get("bad_seq"), "problem": check.get("problem")}}


def decide(backend: Backend, dispute_id: str, outcome: str, note: str,
           operator_id: str) -> int | None:
    """Record the operator's decision; the person's score before it (None when unknown)."""
    try:
        decided = _service().decide_dispute(backend, dispute_id, outcome, note,
                                            actor=f"operator:{operator_id}")
    except ApiError as exc:
        raise DisputesProblem.of(exc) from None
    outcome_facts = decided.get("outcome") or {}
    before = outcome_facts.get("score_before")
    return int(before) if before is not None else None


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    item = d.get("item") or {}
    return {"dispute_id": d["dispute_id"], "subject_id": d.get("subject_id", ""),
            "item_kind": item.get("kind", ""), "item_id": item.get("id", ""),
            "opened_at": d.get("opened_at"), "status": d.get("status", "")}


def _score(conn: Any, subject_id: str) -> int | None:
    try:
        scorecard = importlib.import_module("backend.score_state").scorecard
    except (ImportError, AttributeError):
        return None
    return int(scorecard(conn, subject_id)[0])


def _item_facts(conn: Any, item: dict[str, Any]) -> list[tuple[str, str]]:
    """What the disputed record says (an event's type, time, terminal and attributes)."""
    if item.get("kind") != "event":
        return []
    row = conn.execute("SELECT type, time, terminal_id, subject_id, attributes FROM events"
                       " WHERE event_id = ?", (item.get("id"),)).fetchone()
    if row is None:
        return []
    # Known columns are named by message id ("dispute.fact_*"); attributes by their own names.
    facts = [(f"dispute.fact_{name}", str(row[i]))
             for i, name in enumerate(("type", "time", "terminal", "person"))
             if row[i] is not None]
    try:
        attributes = json.loads(row[4])
    except (TypeError, ValueError):
        attributes = {}
    if isinstance(attributes, dict):
        facts.extend((str(name).replace("_", " "), str(value))
                     for name, value in sorted(attributes.items()))
    return facts
