"""What each rescue step of the live scanner costs, learnt as it runs.

The stream decoder (:mod:`vision.qr.stream`) runs its rescue steps one after another until a
frame's time budget is spent; a step runs only when its expected cost fits in what is left.
:class:`StepCosts` keeps that expectation per step:

- **learnt from runs**, as a moving average, so one unusually slow or fast run moves it only
  a fifth of the way;
- **a first run counts at most one budget**: it pays for warm-up (template and design
  caches, allocations) that later runs do not. Before this rule, the grid sampler's first run
  on a machine (40-70 ms, against 10-25 ms after) barred it for the rest of the process, and
  whether it did depended on which sequence happened to come first;
- **a skipped step's estimate decays**, once per frame (:meth:`StepCosts.start_frame`; a step
  is offered once per kept region, and decaying it at each offer melted its estimate within a
  frame, so it then overran the next), since an estimate only falls when the step runs, and
  one slow run on a large region would otherwise bar a step for good;
- **except a step costlier than ``retry_within`` budgets on average** (WeChat's detector on
  some machines, 50-130 ms a run here): it stays off once three runs after the first show it.
  The average is the median of what its last runs cost, kept apart from the decaying
  estimate, which a step's own skips would otherwise hold under the bar. A median, so that a
  few slow runs of an otherwise affordable step (the grid sampler on a large region or a new
  symbol size, 45-70 ms against a median of 15) do not bar it: barring it on its last two
  runs alone did, in the middle of a benchmark run, and it never ran again.
"""

from __future__ import annotations

import numpy as np

_LEARN = 0.2  # weight of a new run in the moving average
_DECAY = 0.9  # a skipped step's estimate shrinks by this factor
_RETRY_WITHIN = 1.5  # a step costlier than this many budgets on average stays off
_KEPT_RUNS = 9  # the bar is judged on the median of this many last runs...
_MIN_RUNS = 3  # ...once at least this many runs followed the first


class StepCosts:
    """Expected cost (milliseconds) of each named step against a per-frame ``budget_ms``."""

    def __init__(self, budget_ms: float, *, retry_within: float = _RETRY_WITHIN) -> None:
        if budget_ms <= 0 or retry_within <= 0:
            raise ValueError("budget_ms and retry_within must be positive")
        self.budget_ms = budget_ms
        self.retry_within = retry_within
        self._ms: dict[str, float] = {}
        self._decayed: set[str] = set()  # steps whose estimate decayed in this frame
        self._runs: dict[str, list[float]] = {}  # costs of the last runs after the first
        self._barred: set[str] = set()  # judged when a step runs, not each time it is offered

    def start_frame(self) -> None:
        """A new frame: each skipped step's estimate may decay once more."""
        self._decayed.clear()

    def estimate(self, name: str) -> float:
        """The expected cost of ``name`` (0 for a step that never ran)."""
        return self._ms.get(name, 0.0)

    def fits(self, name: str, elapsed_ms: float) -> bool:
        """Whether ``name`` is expected to finish within the budget after ``elapsed_ms`` (never
        for a barred step); a step that does not fit has its estimate decayed, once a frame."""
        if self.barred(name):
            return False
        estimate = self._ms.get(name, 0.0)
        if elapsed_ms + estimate <= self.budget_ms:
            return True
        if name in self._ms and name not in self._decayed:
            self._ms[name] = estimate * _DECAY
            self._decayed.add(name)
        return False

    def barred(self, name: str) -> bool:
        """Whether ``name`` stays off: the median of its last runs after the first (three or
        more) is over ``retry_within`` budgets."""
        return name in self._barred

    def learn(self, name: str, cost_ms: float) -> None:
        """Record a run of ``name`` that took ``cost_ms``."""
        previous = self._ms.get(name)
        if previous is None:
            self._ms[name] = min(cost_ms, self.budget_ms)
            return
        self._ms[name] = (1.0 - _LEARN) * previous + _LEARN * cost_ms
        runs = self._runs[name] = [*self._runs.get(name, []), cost_ms][-_KEPT_RUNS:]
        if len(runs) >= _MIN_RUNS and float(np.median(runs)) > self.retry_within * self.budget_ms:
            self._barred.add(name)
