"""What a QR decode returns: the raw bytes of each code, its text when it has one, where it was."""

from __future__ import annotations

from dataclasses import dataclass, field

Point = tuple[float, float]


@dataclass(frozen=True)
class QrCode:
    """One decoded QR symbol.

    ``payload`` is the raw byte content of the symbol, always kept. ``text`` is the payload
    as text: UTF-8 when the bytes are valid UTF-8; otherwise the engine's own charset-aware
    transcoding if it gave one (zxing-cpp honours ECI and guesses Shift_JIS/GB2312 as ZXing
    does) when it holds no control characters; otherwise strict Shift_JIS (the QR standard's
    Kanji charset) when it holds no control characters; otherwise None.
    Latin-1 is never guessed, because it would turn any binary payload into bogus text.
    ``points`` are the symbol's corners in image pixels (clockwise from top-left when the
    engine reports them), ``engine`` names the engine and image preparation that read it.
    """

    payload: bytes
    text: str | None
    points: tuple[Point, ...]
    engine: str

    @property
    def payload_hex(self) -> str:
        """The raw payload as lower-case hexadecimal."""
        return self.payload.hex()


@dataclass(frozen=True)
class DecodeResult:
    """The outcome of decoding one frame: codes found, time spent, and how the cascade went."""

    codes: tuple[QrCode, ...]
    elapsed_ms: float
    # Attempts made, in order, as "engine[/preparation]" names.
    attempts: tuple[str, ...] = ()
    # True when the frame was judged code-free by the fast gate and not searched further.
    rejected: bool = False
    # True when attempts were skipped because the frame's time budget ran out.
    over_budget: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def found(self) -> bool:
        """Whether at least one code was decoded."""
        return bool(self.codes)


def payload_text(payload: bytes, engine_text: str | None = None) -> str | None:
    """Best text for ``payload``: UTF-8, else the engine text, else Shift_JIS, else None."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if engine_text and not any(_is_control(ch) for ch in engine_text):
        return engine_text
    try:
        text = payload.decode("shift_jis")
    except UnicodeDecodeError:
        return None
    return None if any(_is_control(ch) for ch in text) else text


def _is_control(ch: str) -> bool:
    """C0/C1 control characters other than tab, CR and LF mark binary data, not text."""
    code = ord(ch)
    return (code < 0x20 and ch not in "\t\r\n") or 0x7F <= code <= 0x9F
