"""What the bike unit's light and buzzer show in each ride state (patterns: hardware.patterns)."""

from __future__ import annotations

from hardware.ports import Beep, Indicator, IndicatorState
from terminal.bikelock.states import RideState

# The light in each state; every state not listed is "reading" (busy). IDLE is ready, or low
# battery when the lock reports a charge below the threshold.
LIGHT_IN_STATE: dict[RideState, IndicatorState] = {
    RideState.UNLOCKED: IndicatorState.OK,
    RideState.RIDING: IndicatorState.OK,
    RideState.SETTLED: IndicatorState.OK,
    RideState.REJECTED: IndicatorState.DECLINED,
    RideState.DECLINED: IndicatorState.DECLINED,
    RideState.FAILED: IndicatorState.ERROR,
    RideState.ABANDONED: IndicatorState.ATTENTION,
}
# The beep when a rental ends (an unlock beeps OK as it happens: approved, take the bike).
BEEP_AT_END: dict[RideState, Beep] = {
    RideState.SETTLED: Beep.OK,
    RideState.REJECTED: Beep.DECLINED,
    RideState.DECLINED: Beep.DECLINED,
    RideState.FAILED: Beep.ERROR,
    RideState.ABANDONED: Beep.ERROR,
}


class UnitLights:
    """Drives an optional indicator, switching the light only when it changes (a blinking
    pattern is not restarted by the service loop's ticks)."""

    def __init__(self, indicator: Indicator | None) -> None:
        self._indicator = indicator
        self._shown: IndicatorState | None = None

    def state(self, state: RideState, *, battery_low: bool) -> None:
        """Show the light of ride ``state``."""
        if state is RideState.IDLE:
            self.show(IndicatorState.LOW_BATTERY if battery_low else IndicatorState.IDLE)
        else:
            self.show(LIGHT_IN_STATE.get(state, IndicatorState.BUSY))

    def show(self, light: IndicatorState) -> None:
        """Switch the light to ``light`` unless it already shows it."""
        if self._indicator is not None and light is not self._shown:
            self._indicator.show(light)
            self._shown = light

    def beep(self, kind: Beep) -> None:
        """Sound ``kind``."""
        if self._indicator is not None:
            self._indicator.beep(kind)

    def ended(self, state: RideState) -> None:
        """Sound the beep of a rental that ended in ``state``."""
        self.beep(BEEP_AT_END.get(state, Beep.ERROR))
