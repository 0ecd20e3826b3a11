"""`scanpay decode [--json] IMAGE...`: decode the QR codes in image files with the cascade."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `decode` command."""
    parser = sub.add_parser("decode", help="decode QR codes in image files",
                            description="Decode the QR codes in each image. Exit status 0 when "
                                        "every image was readable, 1 otherwise.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object per image, in input order: {"file", "codes": '
                             '[{"text", "bytes_hex", "engine", "points"}], "ms"}')
    parser.add_argument("--budget-ms", type=float, default=None,
                        help="per-image time budget of the cascade (default: config default)")
    parser.set_defaults(handler=_decode)


def _decode(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from terminal.config.schema import ScanSection
    from vision.qr.cascade import CascadeSettings, QrDecoder

    budget = args.budget_ms if args.budget_ms is not None else ScanSection().budget_ms
    if budget <= 0:
        print("scanpay: error: --budget-ms must be positive", file=sys.stderr)
        return 2
    failures = 0
    # A file is expected to hold a code, so search it fully (no fast reject of code-free frames).
    with QrDecoder(CascadeSettings(budget_ms=budget, fast_reject=False)) as decoder:
        for path in args.images:
            try:
                data = np.fromfile(path, dtype=np.uint8)
                image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
            except (OSError, ValueError) as exc:
                image, reason = None, _reason(exc)
            else:
                reason = "not a readable image"
            if image is None:
                failures += 1
                _emit(args, {"file": path, "error": reason, "codes": [], "ms": None})
                continue
            if image.dtype != np.uint8:
                image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
            result = decoder.decode(image)
            codes = [{"text": c.text, "bytes_hex": c.payload_hex, "engine": c.engine,
                      "points": [[round(x, 1), round(y, 1)] for x, y in c.points]}
                     for c in result.codes]
            _emit(args, {"file": path, "codes": codes, "ms": round(result.elapsed_ms, 2)})
    return 1 if failures else 0


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _emit(args: argparse.Namespace, record: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return
    path = record["file"]
    if "error" in record:
        print(f"{path}: error: {record['error']}", flush=True)
    elif not record["codes"]:
        print(f"{path}: no QR code ({record['ms']} ms)", flush=True)
    else:
        shown = []
        for c in record["codes"]:
            shown.append(repr(c["text"]) if c["text"] is not None else f"hex:{c['bytes_hex']}")
        print(f"{path}: {'; '.join(shown)} ({record['ms']} ms, {record['codes'][0]['engine']})",
              flush=True)
