"""Where the shared face data lives (SCANPAY_SHARED, default <repo>/../shared), for skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("SCANPAY_SHARED",
                             Path(__file__).resolve().parents[1].parent / "shared"))
FACES = SHARED / "data" / "faces"

needs_faces = pytest.mark.skipif(not (FACES / "lfw_pairs.csv").is_file(),
                                 reason="shared face data (../shared/data/faces) not present")
