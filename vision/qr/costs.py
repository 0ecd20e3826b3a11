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
- **a skipped step's estimate decays**, since an estimate only falls when the step runs, and
  one slow run on a large region would otherwise bar a step for good;
- **except a step whose last two runs after the first both cost over ``retry_within``
  budgets** (WeChat's detector on some machines, 50-130 ms here): it stays off. Two runs, so
  that one slow run of an otherwise affordable step (the grid sampler on a large region) does
  not bar it.
"""

from __future__ import annotations

_LEARN = 0.2  # weight of a new run in the moving average
_DECAY = 0.9  # a skipped step's estimate shrinks by this factor
_RETRY_WITHIN = 1.5  # a step whose last two runs cost over this many budgets stays off


class StepCosts:
    """Expected cost (milliseconds) of each named step against a per-frame ``budget_ms``."""

    def __init__(self, budget_ms: float, *, retry_within: float = _RETRY_WITHIN) -> None:
        if budget_ms <= 0 or retry_within <= 0:
            raise ValueError("budget_ms and retry_within must be positive")
        self.budget_ms = budget_ms
        self.retry_within = retry_within
        self._ms: dict[str, float] = {}
        self._recent: dict[str, list[float]] = {}  # the last two costs after the first run

    def estimate(self, name: str) -> float:
        """The expected cost of ``name`` (0 for a step that never ran)."""
        return self._ms.get(name, 0.0)

    def fits(self, name: str, elapsed_ms: float) -> bool:
        """Whether ``name`` is expected to finish within the budget after ``elapsed_ms`` (never
        for a barred step); a step that does not fit has its estimate decayed."""
        if self.barred(name):
            return False
        estimate = self._ms.get(name, 0.0)
        if elapsed_ms + estimate <= self.budget_ms:
            return True
        if name in self._ms:
            self._ms[name] = estimate * _DECAY
        return False

    def barred(self, name: str) -> bool:
        """Whether ``name`` stays off: its last two runs after the first each cost over
        ``retry_within`` budgets."""
        recent = self._recent.get(name, [])
        return len(recent) == 2 and min(recent) > self.retry_within * self.budget_ms

    def learn(self, name: str, cost_ms: float) -> None:
        """Record a run of ``name`` that took ``cost_ms``."""
        previous = self._ms.get(name)
        if previous is None:
            self._ms[name] = min(cost_ms, self.budget_ms)
            self._recent[name] = []
        else:
            self._ms[name] = (1.0 - _LEARN) * previous + _LEARN * cost_ms
            self._recent[name] = [*self._recent.get(name, []), cost_ms][-2:]
