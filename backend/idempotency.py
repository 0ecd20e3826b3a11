"""Idempotency-Key handling: same key + same body -> the first response; other body -> 409."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from backend.context import Backend, get_backend, request_id
from backend.errors import ApiError
from backend.json_response import OrjsonResponse

_KEY_RE = re.compile(r"[\x21-\x7e]{1,128}")

# An operation runs inside the request's transaction and returns (status, body).
Operation = Callable[[sqlite3.Connection], tuple[int, dict[str, Any]]]


async def idempotency_key(
    idempotency_key: Annotated[str | None, Header(
        description="Client-generated key, reused on every retry of one attempt")] = None,
) -> str:
    """FastAPI dependency: the ``Idempotency-Key`` header, required (``400`` when absent)."""
    if idempotency_key is None:
        raise ApiError(400, "idempotency_key_required",
                       "this call moves money or consumes a code; send an Idempotency-Key header")
    if not _KEY_RE.fullmatch(idempotency_key):
        raise ApiError(400, "idempotency_key_invalid",
                       "Idempotency-Key must be 1-128 printable ASCII characters")
    return idempotency_key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]


def error_body(code: str, message: str, req_id: str) -> dict[str, Any]:
    """The JSON error body of docs/api.md."""
    return {"error": {"code": code, "message": message, "request_id": req_id}}


def run_idempotent(
    request: Request, *, terminal_id: str, key: str, body: Any, operation: Operation
) -> JSONResponse:
    """Run ``operation`` once per (terminal, key); replay its stored response afterwards.

    The operation's changes and the stored response commit together. An :class:`ApiError`
    raised by the operation rolls its changes back, and its error response is stored too, so a
    retry gets the same answer. Other exceptions store nothing (the client may retry).
    """
    backend: Backend = get_backend(request)
    req_id = request_id(request)
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.url.path, body], sort_keys=True,
                   separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    with backend.store.transaction() as conn:
        # Claim the key first: of two requests with one key at once (PostgreSQL, several
        # workers), the second's INSERT waits for the first to commit, then finds its row.
        if conn.execute(
            "INSERT INTO idempotency(terminal_id, key, fingerprint, status, body, created_at)"
            " VALUES (?, ?, ?, 0, '', ?) ON CONFLICT (terminal_id, key) DO NOTHING",
            (terminal_id, key, fingerprint, backend.now()),
        ).rowcount != 1:
            row = conn.execute(
                "SELECT fingerprint, status, body FROM idempotency"
                " WHERE terminal_id = ? AND key = ?", (terminal_id, key)).fetchone()
            if row["fingerprint"] != fingerprint:
                raise ApiError(409, "idempotency_key_reused",
                               "this Idempotency-Key was already used with a different request")
            return OrjsonResponse(status_code=int(row["status"]),
                                  content=json.loads(row["body"]),
                                  headers={"Idempotent-Replayed": "true"})
        conn.execute("SAVEPOINT op")
        try:
            status, content = operation(conn)
        except ApiError as exc:
            conn.execute("ROLLBACK TO op")
            status, content = exc.status, error_body(exc.code, exc.message, req_id)
        # The savepoint is left to end with the transaction: a RELEASE would be one more
        # round trip on PostgreSQL and changes nothing.
        conn.execute("UPDATE idempotency SET status = ?, body = ?"
                     " WHERE terminal_id = ? AND key = ?",
                     (status, json.dumps(content), terminal_id, key))
    return OrjsonResponse(status_code=status, content=content)
