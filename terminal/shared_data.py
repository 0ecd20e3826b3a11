"""Where the evaluation data kept outside the project lives (never committed into it)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SCANPAY_SHARED"


def shared_root(explicit: Path | None = None) -> Path:
    """The shared data folder: ``explicit``, else ``$SCANPAY_SHARED``, else ``<repo>/../shared``.

    The folder may be absent; callers check the files they need and skip with a reason.
    """
    if explicit is not None:
        return explicit
    default = Path(__file__).resolve().parents[1].parent / "shared"
    return Path(os.environ.get(ENV_VAR, default))
