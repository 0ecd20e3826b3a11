"""A small declarative state machine: named transitions, guards, illegal events raise.

The machine holds no business data; flows keep that in a model object they persist. A
transition table maps ``(state, event)`` to the next state; anything not in the table is an
illegal event and raises :class:`~terminal.errors.FlowError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from terminal.errors import FlowError

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


@dataclass(frozen=True)
class Transition(Generic[S, E]):
    """One step the machine took."""

    source: S
    event: E
    target: S
    at: float


class StateMachine(Generic[S, E]):
    """Fires events against a fixed transition table and remembers the path taken."""

    def __init__(
        self,
        table: Mapping[tuple[S, E], S],
        initial: S,
        *,
        clock: Callable[[], float],
        on_transition: Callable[[Transition[S, E]], None] | None = None,
    ) -> None:
        self._table = dict(table)
        self._state = initial
        self._clock = clock
        self._on_transition = on_transition
        self.history: list[Transition[S, E]] = []

    @property
    def state(self) -> S:
        """The current state."""
        return self._state

    def allowed(self) -> list[E]:
        """Events the current state accepts."""
        return [event for (state, event) in self._table if state is self._state]

    def can(self, event: E) -> bool:
        """Whether ``event`` is legal now."""
        return (self._state, event) in self._table

    def fire(self, event: E) -> S:
        """Take the transition for ``event`` or raise FlowError if the state does not accept it."""
        try:
            target = self._table[(self._state, event)]
        except KeyError:
            accepted = ", ".join(e.value for e in self.allowed()) or "nothing"
            raise FlowError(
                f"event '{event.value}' is not allowed in state '{self._state.value}' "
                f"(accepted: {accepted})"
            ) from None
        step = Transition(self._state, event, target, self._clock())
        self._state = target
        self.history.append(step)
        if self._on_transition is not None:
            self._on_transition(step)
        return target

    def restore(self, state: S) -> None:
        """Resume in ``state`` (after a restart, from a persisted model)."""
        self._state = state


def reachable(table: Mapping[tuple[S, E], S], initial: S) -> set[S]:
    """States reachable from ``initial`` — used by tests to check a table has no dead states."""
    seen = {initial}
    frontier: list[S] = [initial]
    while frontier:
        state = frontier.pop()
        for (source, _event), target in table.items():
            if source is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def table_from(rows: Iterable[tuple[S | tuple[S, ...], E, S]]) -> dict[tuple[S, E], S]:
    """Build a table from ``(source or sources, event, target)`` rows; duplicates raise."""
    table: dict[tuple[S, E], S] = {}
    for sources, event, target in rows:
        for source in sources if isinstance(sources, tuple) else (sources,):
            key = (source, event)
            if key in table:
                raise ValueError(f"duplicate transition {source.value} --{event.value}-->")
            table[key] = target
    return table
