"""Adapters for the QR engines: zxing-cpp, zbar (via pyzbar), OpenCV WeChat and QRCodeDetector.

Every adapter takes an 8-bit image and returns a list of :class:`QrCode`; no engine error
(OpenCV raising on non-UTF-8 payloads, zbar format errors, odd shapes) ever escapes: it is
logged at debug level and the adapter returns an empty list. Vendor libraries are imported
on first use, never at import time.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vision.qr.result import Point, QrCode, payload_text

logger = logging.getLogger(__name__)

EngineFn = Callable[[np.ndarray], list[QrCode]]

ENGINE_NAMES: tuple[str, ...] = ("zxing", "zbar", "wechat", "opencv")

_ZBAR_CFG_BINARY = 4  # zbar >= 0.23: keep QR payload bytes instead of transcoding to UTF-8
_ZBAR_QRCODE = 64


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a contiguous 8-bit single-channel array."""
    if (not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0
            or (image.ndim == 3 and image.shape[2] not in (1, 3, 4))):
        raise ValueError("expected a non-empty gray, BGR or BGRA image array")
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and image.max(initial=0) <= 1.0:
            image = image * 255.0
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(_gray(image))


def _scaled(points: Sequence[Point], scale: float) -> tuple[Point, ...]:
    return tuple((float(x) * scale, float(y) * scale) for x, y in points)


def zxing_decode(gray: np.ndarray, *, try_harder: bool = True, binarizer: str = "LocalAverage",
                 scale: float = 1.0, tag: str = "zxing") -> list[QrCode]:
    """Decode with zxing-cpp; ``scale`` maps points back when ``gray`` was resized."""
    try:
        import zxingcpp

        results = zxingcpp.read_barcodes(
            gray,
            formats=zxingcpp.BarcodeFormat.QRCode,
            try_rotate=try_harder,
            try_downscale=try_harder,
            try_invert=try_harder,
            text_mode=zxingcpp.TextMode.Plain,
            binarizer=getattr(zxingcpp.Binarizer, binarizer),
        )
        codes = []
        for r in results:
            if not r.valid:
                continue
            raw = bytes(r.bytes)
            engine_text = r.text if r.content_type != zxingcpp.ContentType.Binary else None
            p = r.position
            pts = [(p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y),
                   (p.bottom_right.x, p.bottom_right.y), (p.bottom_left.x, p.bottom_left.y)]
            codes.append(QrCode(raw, payload_text(raw, engine_text), _scaled(pts, scale), tag))
        return codes
    except Exception as exc:  # an engine failure must never lose the frame
        logger.debug("zxing-cpp failed: %s", exc)
        return []


class _Zbar:
    """A reusable zbar image scanner configured for QR codes with binary payloads."""

    def __init__(self) -> None:
        from pyzbar import wrapper as zw

        self._zw = zw
        self._scanner = zw.zbar_image_scanner_create()
        zw.zbar_image_scanner_set_config(self._scanner, 0, zw.ZBarConfig.CFG_ENABLE, 0)
        zw.zbar_image_scanner_set_config(self._scanner, _ZBAR_QRCODE, zw.ZBarConfig.CFG_ENABLE, 1)
        zw.zbar_image_scanner_set_config(self._scanner, _ZBAR_QRCODE, _ZBAR_CFG_BINARY, 1)

    def decode(self, gray: np.ndarray, scale: float, tag: str) -> list[QrCode]:
        zw = self._zw
        h, w = gray.shape[:2]
        data = np.ascontiguousarray(gray).tobytes()
        img = zw.zbar_image_create()
        try:
            zw.zbar_image_set_format(img, 0x30303859)  # 'Y800' fourcc: 8-bit gray
            zw.zbar_image_set_size(img, w, h)
            zw.zbar_image_set_data(img, ctypes.cast(data, ctypes.c_void_p), len(data), None)
            if zw.zbar_scan_image(self._scanner, img) <= 0:
                return []
            codes = []
            symbol = zw.zbar_image_first_symbol(img)
            while symbol:
                length = zw.zbar_symbol_get_data_length(symbol)
                raw = ctypes.string_at(zw.zbar_symbol_get_data(symbol), length)
                n = zw.zbar_symbol_get_loc_size(symbol)
                pts = [(zw.zbar_symbol_get_loc_x(symbol, i), zw.zbar_symbol_get_loc_y(symbol, i))
                       for i in range(n)]
                if n == 4:  # zbar lists the corners counter-clockwise; report them clockwise
                    pts = [pts[0], pts[3], pts[2], pts[1]]
                codes.append(QrCode(raw, payload_text(raw), _scaled(pts, scale), tag))
                symbol = zw.zbar_symbol_next(symbol)
            return codes
        finally:
            zw.zbar_image_destroy(img)

    def close(self) -> None:
        if self._scanner:
            self._zw.zbar_image_scanner_destroy(self._scanner)
            self._scanner = None


def _opencv_raw(text: str) -> bytes:
    """Recover payload bytes from OpenCV's string.

    OpenCV returns valid UTF-8 payloads decoded and passes other bytes through one character
    per byte (Latin-1). C1 control characters (U+0080..U+009F) almost never occur in real
    text, so their presence marks the pass-through case.
    """
    if any("\x80" <= ch <= "\x9f" for ch in text):
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return text.encode("utf-8", "surrogateescape")


def _opencv_codes(texts: Sequence[Any], points: Any, scale: float, tag: str) -> list[QrCode]:
    codes = []
    quads = [] if points is None else list(np.asarray(points, dtype=np.float64).reshape(-1, 4, 2))
    for i, text in enumerate(texts):
        if not text:
            continue
        raw = _opencv_raw(text)
        pts = [tuple(p) for p in quads[i]] if i < len(quads) else []
        codes.append(QrCode(raw, payload_text(raw), _scaled(pts, scale), tag))
    return codes


class EngineSet:
    """Lazily created engine instances for one decoder (not shared between threads)."""

    def __init__(self) -> None:
        self._zbar: _Zbar | None = None
        self._wechat: Any = None
        self._opencv: Any = None
        self._broken: set[str] = set()

    def zxing(self, gray: np.ndarray, *, try_harder: bool = True, binarizer: str = "LocalAverage",
              scale: float = 1.0, tag: str = "zxing") -> list[QrCode]:
        """zxing-cpp on ``gray``."""
        return zxing_decode(gray, try_harder=try_harder, binarizer=binarizer, scale=scale, tag=tag)

    def zbar(self, gray: np.ndarray, *, scale: float = 1.0, tag: str = "zbar") -> list[QrCode]:
        """zbar (through pyzbar's library binding) on ``gray``, payload bytes kept raw."""
        if "zbar" in self._broken:
            return []
        try:
            if self._zbar is None:
                self._zbar = _Zbar()
            return self._zbar.decode(gray, scale, tag)
        except Exception as exc:
            logger.debug("zbar failed: %s", exc)
            if self._zbar is None:
                self._broken.add("zbar")
            return []

    def wechat(self, gray: np.ndarray, *, scale: float = 1.0, tag: str = "wechat") -> list[QrCode]:
        """OpenCV's WeChat decoder (opencv-contrib, traditional detector, no model files)."""
        if "wechat" in self._broken:
            return []
        try:
            import cv2

            if self._wechat is None:
                self._wechat = cv2.wechat_qrcode_WeChatQRCode()
            texts, points = self._wechat.detectAndDecode(gray)
            return _opencv_codes(texts, points, scale, tag)
        except Exception as exc:
            logger.debug("wechat failed: %s", exc)
            if self._wechat is None:
                self._broken.add("wechat")
            return []

    def opencv(self, gray: np.ndarray, *, scale: float = 1.0, tag: str = "opencv") -> list[QrCode]:
        """OpenCV's QRCodeDetector (multi-code)."""
        try:
            import cv2

            if self._opencv is None:
                self._opencv = cv2.QRCodeDetector()
            ok, texts, points, _ = self._opencv.detectAndDecodeMulti(gray)
            return _opencv_codes(texts, points, scale, tag) if ok else []
        except Exception as exc:
            logger.debug("opencv QRCodeDetector failed: %s", exc)
            return []

    def run(self, name: str, gray: np.ndarray) -> list[QrCode]:
        """Run the single engine ``name`` (one of ENGINE_NAMES) with its default settings."""
        if name not in ENGINE_NAMES:
            raise ValueError(f"unknown QR engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")
        return getattr(self, name)(gray)

    def close(self) -> None:
        """Release engine resources; safe to call more than once."""
        if self._zbar is not None:
            self._zbar.close()
            self._zbar = None
        self._wechat = None
        self._opencv = None
