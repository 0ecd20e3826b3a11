"""QR decoding on camera frames: an engine cascade within a time budget, and a live scan loop.

Import the parts you need: ``vision.qr.cascade.QrDecoder`` (one frame),
``vision.qr.live.QrScanner`` (a camera), ``vision.qr.result.QrCode`` (what they return).
Nothing heavy is imported until a frame is decoded.
"""

from vision.qr.cascade import CascadeSettings, InvalidImageError, QrDecoder
from vision.qr.live import CodeTracker, QrScanner, ScanEvent, ScanSourceError
from vision.qr.result import DecodeResult, QrCode, payload_text

__all__ = ["CascadeSettings", "CodeTracker", "DecodeResult", "InvalidImageError", "QrCode",
           "QrDecoder", "QrScanner", "ScanEvent", "ScanSourceError", "payload_text"]
