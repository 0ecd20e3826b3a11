"""Quiet pin-factory discovery: gpiozero's fallback warnings become one clear error or nothing.

When no pin factory is passed, gpiozero tries lgpio, RPi.GPIO, pigpio and its native driver in
turn and warns about each one that fails. On a Raspberry Pi one of them works and the warnings
are noise; on a board without GPIO they bury the one line that matters. Here they are logged
at debug level, and a total failure is explained in one sentence.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

NO_PIN_LIBRARY_HINT = (
    "no GPIO pin library works on this machine (is it a Raspberry Pi? on Raspberry Pi OS: "
    "sudo apt install python3-lgpio and create the venv with --system-site-packages; "
    "elsewhere use kind = \"emulated\")"
)


@contextmanager
def quiet_pin_factory_fallbacks() -> Iterator[list[str]]:
    """Log gpiozero's pin-factory fallback warnings at debug level while the block runs.

    Yields the list of fallback messages seen; every other warning is passed on unchanged.
    """
    from gpiozero.exc import NativePinFactoryFallback, PinFactoryFallback

    fallbacks: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield fallbacks
        finally:
            passed_on = []
            for item in caught:
                if issubclass(item.category, PinFactoryFallback | NativePinFactoryFallback):
                    fallbacks.append(str(item.message))
                    log.debug("gpiozero: %s", item.message)
                else:
                    passed_on.append(item)
    for item in passed_on:
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def explain_pin_error(exc: BaseException) -> str:
    """``exc`` as text, with what to do when gpiozero found no pin library at all."""
    from gpiozero.exc import BadPinFactory

    if isinstance(exc, BadPinFactory):
        return NO_PIN_LIBRARY_HINT
    return str(exc)
