"""What the status light and buzzer do for each state: one table, read by every backend.

The unit's moments, as the rider sees and hears them:

============  ===========  ====================================  ==========================
moment        light state  LEDs                                  buzzer
============  ===========  ====================================  ==========================
ready         idle         green flash every 3 s (battery-kind)  —
reading       busy         green blinks fast                     —
approved      ok           green steady                          one short beep (ok)
declined      declined     red steady                            two short beeps (declined)
error         error        red blinks fast                       one long beep (error)
attention     attention    red blinks slowly                     —
low battery   low_battery  red flash every 3 s                   —
============  ===========  ====================================  ==========================

A steady LED drawn all day is a battery unit's largest idle load after the camera, so "ready"
is a short flash; an approval is steady green so it reads at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.ports import Beep, IndicatorState


@dataclass(frozen=True)
class Blink:
    """An LED blinking ``on_s`` on, ``off_s`` off, for as long as the state lasts."""

    on_s: float
    off_s: float


# One LED: off, steady on, or blinking.
Led = bool | Blink


@dataclass(frozen=True)
class LightPattern:
    """What the green and the red LED do in one indicator state."""

    green: Led
    red: Led


@dataclass(frozen=True)
class BeepPattern:
    """``count`` buzzer pulses of ``on_s`` separated by ``off_s``."""

    on_s: float
    off_s: float
    count: int


LIGHTS: dict[IndicatorState, LightPattern] = {
    IndicatorState.IDLE: LightPattern(green=Blink(0.1, 2.9), red=False),
    IndicatorState.BUSY: LightPattern(green=Blink(0.2, 0.2), red=False),
    IndicatorState.OK: LightPattern(green=True, red=False),
    IndicatorState.DECLINED: LightPattern(green=False, red=True),
    IndicatorState.ERROR: LightPattern(green=False, red=Blink(0.1, 0.1)),
    IndicatorState.ATTENTION: LightPattern(green=False, red=Blink(0.25, 0.25)),
    IndicatorState.LOW_BATTERY: LightPattern(green=False, red=Blink(0.1, 2.9)),
}

BEEPS: dict[Beep, BeepPattern] = {
    Beep.OK: BeepPattern(0.08, 0.05, 1),
    Beep.DECLINED: BeepPattern(0.1, 0.1, 2),
    Beep.ERROR: BeepPattern(0.6, 0.05, 1),
}
