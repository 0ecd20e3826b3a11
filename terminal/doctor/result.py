"""What one doctor check found, and the report of all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, what was seen, and what to do when it failed.

    ``needed`` checks fail the whole report; the others are warnings (shown, exit status 0).
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"name", "ok", "detail", "fix"}``."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail,
                "fix": "" if self.ok else self.fix}

    def line(self, width: int = 16) -> str:
        """One line for people: status, name, detail and, when it failed, the fix."""
        status = "ok" if self.ok else ("FAIL" if self.needed else "warn")
        text = f"{status:<5} {self.name:<{width}} {self.detail}"
        return text if self.ok or not self.fix else f"{text} — fix: {self.fix}"


def passed(name: str, detail: str) -> CheckResult:
    """A check that passed."""
    return CheckResult(name, True, detail)


def failed(name: str, detail: str, fix: str, *, needed: bool = True) -> CheckResult:
    """A check that failed, with what to do about it."""
    return CheckResult(name, False, detail, fix, needed)


@dataclass(frozen=True)
class Report:
    """Every check in the order run; ``ok`` when no needed check failed."""

    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when every needed check passed."""
        return all(c.ok or not c.needed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"ok", "checks": [...]}``."""
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}

    def lines(self) -> list[str]:
        """One line per check."""
        width = max((len(c.name) for c in self.checks), default=8) + 1
        return [c.line(width) for c in self.checks]
