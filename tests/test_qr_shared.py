"""The cascade on the real photos of ../shared/data/qr (skipped when the folder is absent)."""

from __future__ import annotations

import hashlib

import pytest

from terminal.bench.qr import manifest_samples, shared_dir
from vision.qr import CascadeSettings, QrDecoder

pytestmark = pytest.mark.shared


def test_cascade_reads_at_least_the_union_of_single_engines_on_real_photos() -> None:
    samples = manifest_samples(shared_dir())
    if not samples:
        pytest.skip("shared QR photos not found (set SCANPAY_SHARED)")
    decoded = false = 0
    # What the cascade can read, not how fast: the per-frame time budget would skip rescue
    # attempts whenever the machine is busy (timing is `scanpay bench qr`'s job).
    with QrDecoder(CascadeSettings(budget_ms=60_000.0)) as decoder:
        for s in samples:
            digests = set()
            for c in decoder.decode(s.gray).codes:
                mine = {hashlib.sha256(c.payload).hexdigest()}
                if c.text is not None:
                    mine.add(hashlib.sha256(c.text.encode()).hexdigest())
                false += not (mine & s.expected)
                digests |= mine
            decoded += bool(digests & s.expected)
    # zxing/qrcode-2/33.png holds a Hanzi-mode (GB2312) segment; zxing-cpp keeps its 2-byte
    # subset header (01 10) in the payload, which ZXing's expected text omits: one mismatch.
    assert false <= 1
    assert decoded >= 115  # the union of zxing-cpp, zbar, WeChat and OpenCV on this set
