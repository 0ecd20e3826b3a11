"""``GET /v1/health``: liveness, no authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.context import BackendDep, rfc3339

router = APIRouter(tags=["health"])


@router.get("/v1/health", summary="Liveness check (no API key needed)")
def health(backend: BackendDep) -> dict[str, Any]:
    """Answer ``{"status": "ok", "time": ...}`` while the server runs."""
    return {"status": "ok", "time": rfc3339(backend.now())}
