"""The report page's words for what the back end sends as codes: factors, reasons, restrictions,
deposit decisions and the report's source.

The back end sends each of them as a code with its numbers (a factor's event count, points, cap;
a deposit's amount) and, beside them, an English sentence. The page says them in the reader's
language from the text catalogue (``person.factor.<code>``, ``person.reason.<code>``, ...); the
back end's English is shown only for a code the catalogue does not know (a restriction an
operator invented, a factor of a newer back end). tests/test_person_words.py checks that every
code the back end and the terminals can emit has words in both languages.
"""

from __future__ import annotations

from payments.clients.models import Restriction
from payments.clients.person import DepositDecision, PersonReport, ReportFactor
from terminal.kiosk.web.texts import Texts


class PersonWords:
    """Words of one language for the codes of one report."""

    def __init__(self, texts: Texts, lang: str, report: PersonReport | None) -> None:
        self._texts = texts
        self._lang = lang
        self._report = report

    def _known(self, message_id: str) -> bool:
        return self._texts.has(self._lang, message_id)

    def _counted(self, message_id: str, n: int) -> str:
        """The id of ``message_id``'s words for ``n``: ``<id>.one`` for exactly one where the
        language has it (English: "1 bike"), else ``message_id`` (every number in Chinese)."""
        one = f"{message_id}.one"
        return one if n == 1 and self._known(one) else message_id

    def factor(self, factor: ReportFactor) -> str:
        """A factor in a sentence: what happened, what it did to the score and its cap, e.g.
        "4 parking violations: cost 40 points" (the back end's own words for an unknown code
        or when it did not send the numbers)."""
        what_id = f"person.factor.{factor.code}"
        if factor.count is None or not self._known(what_id):
            return factor.text
        get = self._texts.get
        what = get(self._lang, self._counted(what_id, factor.count), n=factor.count)
        verb = "person.factor.added" if factor.points > 0 else "person.factor.cost"
        words = get(self._lang, self._counted(verb, abs(factor.points)), what=what,
                    points=abs(factor.points))
        limit = factor.counted_limit
        if factor.cap_points is not None and limit is not None and factor.count > limit:
            words += get(self._lang, "person.factor.capped", cap=abs(factor.cap_points),
                         limit=limit)
        return words

    def reason(self, code: str) -> str:
        """A decision's reason code in a few words: the factor or restriction it names, or why
        there was no score to explain (the report's English words, or the code itself, for a
        code the catalogue does not know)."""
        if self._known(f"person.reason.{code}"):
            return self._texts.get(self._lang, f"person.reason.{code}")
        if self._report is not None:
            for r in self._report.restrictions:
                if r.code == code:
                    return self.restriction(r)
            for f in self._report.factors:
                if f.code == code and f.text:
                    return f.text
        return code

    def restriction(self, restriction: Restriction) -> str:
        """A restriction in words (its code's words, else the description it was listed with)."""
        message_id = f"person.reason.{restriction.code}"
        if self._known(message_id):
            return self._texts.get(self._lang, message_id)
        return restriction.description or restriction.code

    def outcome(self, decision: DepositDecision) -> str:
        """A deposit decision's outcome, with the deposit held when there was one."""
        words = self._texts.get(self._lang, f"person.outcome.{decision.outcome}",
                                decision.outcome)
        if decision.deposit is not None:
            words = self._texts.get(self._lang, "person.outcome.with_deposit", outcome=words,
                                    amount=decision.deposit.format())
        return words

    def source(self) -> str:
        """Who made the report: the back end's default name in the reader's language, or the
        name its operator gave it."""
        report = self._report
        if report is None:
            return "-"
        code = report.source_code
        if code and self._known(f"person.source.{code}"):
            return self._texts.get(self._lang, f"person.source.{code}")
        return report.source or "-"
