"""Where the shared face data lives (SCANPAY_SHARED, default <repo>/../shared), for skipping."""

from __future__ import annotations

import pytest

from terminal.shared_data import shared_root

SHARED = shared_root()
FACES = SHARED / "data" / "faces"

needs_faces = pytest.mark.skipif(not (FACES / "lfw_pairs.csv").is_file(),
                                 reason="shared face data (../shared/data/faces) not present")
