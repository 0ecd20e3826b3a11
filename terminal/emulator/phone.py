"""The customer's phone paying the kiosk's on-screen merchant QR, for the dev panel.

The phone "scans" the QR the kiosk screen draws (its inline SVG: one path of module runs),
reads the order reference from the EMVCo payload, and pays that order through the back end's
emulator-only route, as a wallet app would after the customer confirms.
"""

from __future__ import annotations

import re

import numpy as np
import requests

from payments.qr import parse_payload
from terminal.emulator.session import Emulator, EmulatorError

_VIEWBOX = re.compile(r'viewBox="0 0 (\d+) (\d+)"')
_RUN = re.compile(r"M(\d+) (\d+)h(\d+)")
_MODULE_PX = 6


def screen_qr_image(svg: str) -> np.ndarray:
    """The QR an on-screen SVG (module runs ``M{x} {y}h{w}...``) shows, as a BGR image."""
    box = _VIEWBOX.search(svg)
    if box is None:
        raise EmulatorError("the screen shows no QR code the phone can read")
    width, height = int(box.group(1)), int(box.group(2))
    modules = np.zeros((height, width), bool)
    for x, y, run in _RUN.findall(svg):
        modules[int(y), int(x):int(x) + int(run)] = True
    grey = np.where(modules, 0, 255).astype(np.uint8)
    grey = np.kron(grey, np.ones((_MODULE_PX, _MODULE_PX), np.uint8))
    return np.repeat(grey[:, :, None], 3, axis=2)


def scan_screen_qr(svg: str) -> str:
    """The payload of the QR an on-screen SVG shows, read with the terminal's own decoder."""
    from vision.qr import QrDecoder

    with QrDecoder() as decoder:
        codes = decoder.decode(screen_qr_image(svg)).codes
    if not codes:
        raise EmulatorError("the phone could not read the QR code on the screen")
    code = codes[0]
    return code.text or code.payload.decode("utf-8", "replace")


def pay_screen_qr(emulator: Emulator, svg: str) -> str:
    """Scan the kiosk's merchant QR and pay its order; returns the order reference."""
    fields = parse_payload(scan_screen_qr(svg)).fields
    reference = fields.get("reference")
    if not reference:
        raise EmulatorError("the QR on the screen names no order reference")
    response = requests.post(f"{emulator.server.url}/v1/dev/orders/{reference}/pay",
                             headers={"Authorization": f"Bearer {emulator.api_key}"},
                             timeout=10)
    if response.status_code >= 300:
        raise EmulatorError(f"the phone could not pay order {reference}: {_message(response)}")
    return str(reference)


def _message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
