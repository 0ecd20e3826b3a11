"""Client of the person's side of the back end: a personal report, disputes and their review.

Three kinds of caller use it, each with its own credentials in :class:`ServiceSettings`:

- the **person** (their phone, or `scanpay person`): :meth:`PersonClient.open_session`
  trades a fresh wallet payment code for a short-lived bearer token (no API key: the code is
  the proof); :meth:`PersonClient.for_token` then reads the report and opens disputes with it;
- a **terminal** that served the person: :meth:`PersonClient.report_link` asks for a token to
  put in the QR on its decision screen (with the terminal's API key);
- the **operator** (an operator key): :class:`DisputeReviewClient` lists disputes, decides
  them and reads their audit trail.

Every call has the budget and retries of :mod:`payments.clients.http`; the token travels only
in the ``Authorization`` header, never in a logged URL.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import quote

import requests

from payments.clients.errors import BadArgument
from payments.clients.gateway import new_idempotency_key
from payments.clients.http import Clock, ServiceClient, ServiceSettings, Sleep
from payments.clients.models import SCORE_BASELINE, Restriction
from payments.clients.parse import Fields
from payments.clients.score import check_identifier, parse_ids, parse_restriction
from payments.money import Money, MoneyError

DisputeKind = Literal["event", "restriction"]
DisputeStatus = Literal["under_review", "upheld", "corrected"]
DISPUTE_STATUSES: tuple[str, ...] = ("under_review", "upheld", "corrected")
MAX_REASON_CHARS = 2000
_TOKEN_MAX = 512


@dataclass(frozen=True)
class PersonSession:
    """A person's bearer token (opaque, short-lived) and whose report it opens."""

    token: str = dataclasses.field(repr=False)
    subject_id: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class ReportFactor:
    """One factor of the scorecard: points against the baseline and the events behind it.

    ``text`` is the back end's English sentence; ``count`` (events that count towards the
    factor), ``cap_points`` (the most it can add or take) and ``counted_limit`` (how many events
    count before the cap) let a page say it in its own language (None from a back end that does
    not send them)."""

    code: str
    text: str
    points: int
    event_ids: tuple[str, ...] = ()
    count: int | None = None
    cap_points: int | None = None
    counted_limit: int | None = None


@dataclass(frozen=True)
class ReportEvent:
    """An event that moved the score: when, where, how many points, and its standing."""

    id: str
    type: str
    time: datetime | None
    terminal_id: str
    points: int
    factor: str | None
    status: str  # counted | disputed | corrected


@dataclass(frozen=True)
class Consent:
    """The release the person signed at enrollment, with the text version they read."""

    text_version: str
    given_at: datetime | None


@dataclass(frozen=True)
class TerminalData:
    """What the terminals' back end holds about the person."""

    face_enrolled: bool
    consent: Consent | None
    retention_until: date | None
    deleted_at: datetime | None  # the tombstone's date, when a template was deleted


@dataclass(frozen=True)
class ScoreUse:
    """A decision that read the score: when, at which terminal, what for, the score read."""

    time: datetime | None
    terminal_id: str
    purpose: str
    score: int


@dataclass(frozen=True)
class DepositDecision:
    """A deposit decision a terminal logged: its outcome (``required``, ``waived`` or
    ``declined``), where and when, and the reason codes it gave."""

    event_id: str
    outcome: str
    time: datetime | None
    terminal_id: str
    reason_codes: tuple[str, ...]
    # The deposit held (a ``required`` decision whose hold was placed), else None.
    deposit: Money | None = None


@dataclass(frozen=True)
class DisputeStep:
    """One step of a dispute: its status then, when, who, and a note."""

    status: str
    time: datetime | None
    actor: str
    note: str


@dataclass(frozen=True)
class Dispute:
    """A dispute of an event or a restriction, and every step it went through."""

    dispute_id: str
    subject_id: str
    kind: DisputeKind
    item_id: str
    reason: str
    status: DisputeStatus
    opened_at: datetime | None
    steps: tuple[DisputeStep, ...]

    def to_json(self) -> dict[str, Any]:
        """The wire form."""
        return {"dispute_id": self.dispute_id, "subject_id": self.subject_id,
                "item": {"kind": self.kind, "id": self.item_id}, "reason": self.reason,
                "status": self.status, "opened_at": _iso(self.opened_at),
                "steps": [{"status": s.status, "time": _iso(s.time), "actor": s.actor,
                           "note": s.note} for s in self.steps]}


@dataclass(frozen=True)
class PersonReport:
    """Everything the person may see: score, range, factors, events, restrictions, data held,
    decisions that used the score, disputes."""

    subject_id: str
    score: int
    range: tuple[int, int]
    baseline: int
    as_of: datetime | None
    source: str
    factors: tuple[ReportFactor, ...]
    events: tuple[ReportEvent, ...]
    restrictions: tuple[Restriction, ...]
    terminal_data: TerminalData
    decisions: tuple[ScoreUse, ...]
    disputes: tuple[Dispute, ...]
    deposit_decisions: tuple[DepositDecision, ...] = ()
    # A code for ``source`` a page can put in its own language (None: a name shown as given).
    source_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object (the back end's field names)."""
        td = self.terminal_data
        return {
            "subject_id": self.subject_id, "score": self.score, "range": list(self.range),
            "baseline": self.baseline, "as_of": _iso(self.as_of), "source": self.source,
            "source_code": self.source_code,
            "factors": [dataclasses.asdict(f) | {"event_ids": list(f.event_ids)}
                        for f in self.factors],
            "events": [dataclasses.asdict(e) | {"time": _iso(e.time)} for e in self.events],
            "restrictions": [restriction_json(r) for r in self.restrictions],
            "terminal_data": {
                "face_enrolled": td.face_enrolled,
                "consent": None if td.consent is None else {
                    "text_version": td.consent.text_version,
                    "given_at": _iso(td.consent.given_at)},
                "retention_until": td.retention_until.isoformat() if td.retention_until
                else None,
                "tombstone": None if td.deleted_at is None else {
                    "deleted_at": _iso(td.deleted_at)}},
            "decisions": [{"time": _iso(d.time), "terminal_id": d.terminal_id,
                           "purpose": d.purpose, "score": d.score} for d in self.decisions],
            "deposit_decisions": [{"id": d.event_id, "outcome": d.outcome, "time": _iso(d.time),
                                   "terminal_id": d.terminal_id,
                                   "reason_codes": list(d.reason_codes)}
                                  | ({} if d.deposit is None else d.deposit.to_json())
                                  for d in self.deposit_decisions],
            "disputes": [d.to_json() for d in self.disputes],
        }

    def open_dispute_for(self, kind: DisputeKind, item_id: str) -> Dispute | None:
        """The dispute under review on this item, if any."""
        return next((d for d in self.disputes if d.kind == kind and d.item_id == item_id
                     and d.status == "under_review"), None)


def restriction_json(r: Restriction) -> dict[str, Any]:
    """A restriction's wire form, with its origin."""
    origin = None if r.origin is None else {
        "source": r.origin.source, "reference": r.origin.reference,
        "listed_at": _iso(r.origin.listed_at)}
    return {"id": r.id, "code": r.code, "description": r.description, "origin": origin}


@dataclass(frozen=True)
class ReportLink:
    """A token a terminal got for the QR on its decision screen."""

    token: str = dataclasses.field(repr=False)
    expires_at: datetime | None


@dataclass(frozen=True)
class AuditRow:
    """One row of a dispute's hash-chained audit trail."""

    seq: int
    dispute_id: str
    action: str
    actor: str
    time: datetime | None
    hash: str
    raw: dict[str, Any]


class PersonClient(ServiceClient):
    """The person's side of the back end; bound to a token with :meth:`for_token`."""

    SERVICE = "score service"

    def __init__(self, settings: ServiceSettings, *, session: requests.Session | None = None,
                 sleep: Sleep = time.sleep, rng: random.Random | None = None,
                 clock: Clock = time.monotonic) -> None:
        super().__init__(settings, session=session, sleep=sleep, rng=rng, clock=clock)
        self._settings = settings
        self._parts = {"sleep": sleep, "rng": rng, "clock": clock}

    def for_token(self, token: str) -> PersonClient:
        """A client that calls as the person holding ``token`` (close it after use)."""
        check_token(token)
        return PersonClient(dataclasses.replace(self._settings, api_key=token), **self._parts)

    def open_session(self, code: str) -> PersonSession:
        """Trade a fresh wallet payment code (used up) for a bearer token of 15 minutes.

        Sent without this client's API key: the code is the only proof. A lost answer is not
        retried (the code is single use); ask the wallet for a new code instead.
        """
        if not isinstance(code, str) or not code.strip():
            raise BadArgument("a person's session needs a payment code from their wallet app")
        anonymous = dataclasses.replace(self._settings, api_key="")
        with ServiceClient(anonymous, **self._parts) as plain:
            r = plain._http.request("POST", "/v1/person/sessions",
                                    json_body={"code": code.strip()}, idempotent=False)
        f = Fields(r.body, what="person session", request_id=r.request_id)
        return PersonSession(check_token(f.text("token")), f.text("subject_id", optional=True),
                             f.time("expires_at", optional=True))

    def report_link(self, subject_id: str) -> ReportLink:
        """A token for the QR on a terminal's decision screen (the terminal's own key)."""
        check_identifier(subject_id, "subject_id")
        r = self._http.request("POST", "/v1/person/report-links",
                               json_body={"subject_id": subject_id}, idempotent=True)
        f = Fields(r.body, what="report link", request_id=r.request_id)
        return ReportLink(check_token(f.text("token")), f.time("expires_at", optional=True))

    def report(self) -> PersonReport:
        """The report of the person this client's token belongs to."""
        r = self._http.request("GET", "/v1/person/report")
        return parse_report(r.body, r.request_id)

    def open_dispute(self, kind: DisputeKind, item_id: str, reason: str) -> Dispute:
        """Contest an event or a restriction with a free-text reason (1..2000 characters)."""
        if kind not in ("event", "restriction"):
            raise BadArgument(f"a dispute is about an event or a restriction, not {kind!r}")
        if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > 128:
            raise BadArgument("the disputed item needs its id (1..128 characters)")
        check_reason(reason)
        r = self._http.request("POST", "/v1/person/disputes",
                               json_body={"item": {"kind": kind, "id": item_id.strip()},
                                          "reason": reason.strip()},
                               idempotency_key=new_idempotency_key())
        return parse_dispute(r.body, r.request_id, "dispute")

    def disputes(self) -> list[Dispute]:
        """The person's disputes, with every step."""
        r = self._http.request("GET", "/v1/person/disputes")
        return parse_dispute_list(r.body, r.request_id)


class DisputeReviewClient(ServiceClient):
    """The operator's review of disputes (an operator key)."""

    SERVICE = "score service"

    def list(self, status: str | None = None) -> list[Dispute]:
        """Disputes, optionally only those with ``status``."""
        if status is not None and status not in DISPUTE_STATUSES:
            raise BadArgument(f"status must be one of {', '.join(DISPUTE_STATUSES)}")
        query = f"?status={status}" if status else ""
        r = self._http.request("GET", f"/v1/disputes{query}")
        return parse_dispute_list(r.body, r.request_id)

    def decide(self, dispute_id: str, outcome: str, note: str, *,
               idempotency_key: str | None = None) -> Dispute:
        """Uphold the record or correct it; a correction recomputes the score."""
        check_identifier(dispute_id, "dispute_id")
        if outcome not in ("upheld", "corrected"):
            raise BadArgument("outcome must be 'upheld' or 'corrected'")
        if not isinstance(note, str) or not note.strip() or len(note) > MAX_REASON_CHARS:
            raise BadArgument(f"a decision needs a note of 1..{MAX_REASON_CHARS} characters")
        r = self._http.request("POST", f"/v1/disputes/{quote(dispute_id, safe='')}/decision",
                               json_body={"outcome": outcome, "note": note.strip()},
                               idempotency_key=idempotency_key or new_idempotency_key())
        return parse_dispute(r.body, r.request_id, "dispute decision")

    def audit(self, dispute_id: str) -> list[AuditRow]:
        """The dispute's audit trail, oldest first."""
        check_identifier(dispute_id, "dispute_id")
        r = self._http.request("GET", f"/v1/disputes/{quote(dispute_id, safe='')}/audit")
        rows = []
        for i, item in enumerate(_list_of(r.body, ("rows", "audit", "trail"), "audit trail",
                                          r.request_id)):
            f = Fields(item, what=f"audit trail[{i}]", request_id=r.request_id)
            seq = f.raw("seq")
            rows.append(AuditRow(
                seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else i + 1,
                dispute_id=str(f.raw("dispute_id") or dispute_id),
                action=str(f.raw("action") or f.raw("status") or ""),
                actor=str(f.raw("actor") or ""), time=f.time("time", optional=True),
                hash=str(f.raw("hash") or f.raw("row_hash") or ""), raw=dict(item)))
        return rows


# -- checks and parsers ----------------------------------------------------------------------


def check_token(token: object) -> str:
    """A bearer token as the back end hands it out (visible ASCII, no spaces)."""
    if not isinstance(token, str) or not token or len(token) > _TOKEN_MAX \
            or not token.isascii() or not token.isprintable() or " " in token:
        raise BadArgument(f"a person's token is 1..{_TOKEN_MAX} visible ASCII characters")
    return token


def check_reason(reason: object) -> str:
    """A dispute's free-text reason: 1..2000 characters after trimming."""
    if not isinstance(reason, str) or not reason.strip():
        raise BadArgument("a dispute needs a reason: say in your own words what is wrong")
    if len(reason.strip()) > MAX_REASON_CHARS:
        raise BadArgument(f"a dispute's reason is at most {MAX_REASON_CHARS} characters, "
                          f"this one has {len(reason.strip())}")
    return reason.strip()


def parse_report(body: object, request_id: str | None) -> PersonReport:
    """Validate a ``GET /v1/person/report`` body."""
    f = Fields(body, what="person report", request_id=request_id)
    span = f.items("range", optional=True) or [350, 950]
    if len(span) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in span):
        raise f.error("range", "must be [lowest, highest]")
    factors = []
    for i, item in enumerate(f.items("factors", optional=True)):
        ff = Fields(item, what=f"person report factors[{i}]", request_id=request_id)
        factors.append(ReportFactor(ff.text("code"), ff.text("text", optional=True)
                                    or ff.text("description"), ff.integer("points"),
                                    parse_ids(ff, "event_ids"), _count(ff, "count"),
                                    _count(ff, "cap_points", signed=True),
                                    _count(ff, "counted_limit")))
    events = []
    for i, item in enumerate(f.items("events", optional=True)):
        e = Fields(item, what=f"person report events[{i}]", request_id=request_id)
        events.append(ReportEvent(e.text("id"), e.text("type"), e.time("time", optional=True),
                                  str(e.raw("terminal_id") or ""), e.integer("points"),
                                  e.text("factor", optional=True),
                                  e.text("status", optional=True) or "counted"))
    restrictions = tuple(parse_restriction(item, f"person report restrictions[{i}]", request_id)
                         for i, item in enumerate(f.items("restrictions", optional=True)))
    decisions = []
    for i, item in enumerate(f.items("decisions", optional=True)):
        d = Fields(item, what=f"person report decisions[{i}]", request_id=request_id)
        decisions.append(ScoreUse(d.time("time", optional=True), str(d.raw("terminal_id") or ""),
                                  str(d.raw("purpose") or ""), d.integer("score")))
    deposit_decisions = []
    for i, item in enumerate(f.items("deposit_decisions", optional=True)):
        d = Fields(item, what=f"person report deposit_decisions[{i}]", request_id=request_id)
        codes = d.items("reason_codes", optional=True)
        if not all(isinstance(c, str) for c in codes):
            raise d.error("reason_codes", "must be a list of codes")
        deposit = None
        if d.raw("amount_minor") is not None:
            try:
                deposit = Money(d.integer("amount_minor"), d.text("currency"))
            except MoneyError as exc:
                raise d.error("amount_minor", str(exc)) from None
        deposit_decisions.append(DepositDecision(
            d.text("id"), d.text("outcome"), d.time("time", optional=True),
            str(d.raw("terminal_id") or ""), tuple(codes), deposit))
    baseline = f.raw("baseline")
    return PersonReport(
        subject_id=f.text("subject_id"), score=f.integer("score"), range=(span[0], span[1]),
        baseline=baseline if isinstance(baseline, int) and not isinstance(baseline, bool)
        else SCORE_BASELINE,
        as_of=f.time("as_of", optional=True), source=str(f.raw("source") or ""),
        factors=tuple(factors), events=tuple(events), restrictions=restrictions,
        terminal_data=_terminal_data(f.raw("terminal_data"), request_id),
        decisions=tuple(decisions), deposit_decisions=tuple(deposit_decisions),
        source_code=f.text("source_code", optional=True),
        disputes=tuple(parse_dispute(item, request_id, f"person report disputes[{i}]")
                       for i, item in enumerate(f.items("disputes", optional=True))))


def _count(f: Fields, field: str, *, signed: bool = False) -> int | None:
    """An optional whole number (non-negative unless ``signed``); None when absent."""
    if f.raw(field) is None:
        return None
    value = f.integer(field)
    if value < 0 and not signed:
        raise f.error(field, "must not be negative")
    return value


def _terminal_data(body: object, request_id: str | None) -> TerminalData:
    if body is None:
        return TerminalData(False, None, None, None)
    f = Fields(body, what="person report terminal_data", request_id=request_id)
    consent = None
    if f.raw("consent") is not None:
        c = Fields(f.raw("consent"), what="person report consent", request_id=request_id)
        consent = Consent(str(c.raw("text_version") or ""), c.time("given_at", optional=True))
    until = f.raw("retention_until")
    retention = None
    if until is not None:
        try:
            retention = date.fromisoformat(str(until)[:10])
        except ValueError:
            raise f.error("retention_until", "must be a date") from None
    deleted = None
    if f.raw("tombstone") is not None:
        t = Fields(f.raw("tombstone"), what="person report tombstone", request_id=request_id)
        deleted = t.time("deleted_at", optional=True)
    return TerminalData(f.raw("face_enrolled") is True, consent, retention, deleted)


def parse_dispute(body: object, request_id: str | None, what: str) -> Dispute:
    """Validate one Dispute object."""
    f = Fields(body, what=what, request_id=request_id)
    item = Fields(f.raw("item"), what=f"{what} item", request_id=request_id)
    kind = item.text("kind")
    if kind not in ("event", "restriction"):
        raise item.error("kind", f"unknown value {kind[:30]!r}")
    status = f.text("status")
    if status not in DISPUTE_STATUSES:
        raise f.error("status", f"unknown value {status[:30]!r}")
    steps = []
    for i, step in enumerate(f.items("steps", optional=True)):
        s = Fields(step, what=f"{what} steps[{i}]", request_id=request_id)
        steps.append(DisputeStep(s.text("status"), s.time("time", optional=True),
                                 str(s.raw("actor") or ""), str(s.raw("note") or "")))
    return Dispute(f.text("dispute_id"), f.text("subject_id"), kind,  # type: ignore[arg-type]
                   str(item.raw("id")), str(f.raw("reason") or ""), status,  # type: ignore
                   f.time("opened_at", optional=True), tuple(steps))


def parse_dispute_list(body: object, request_id: str | None) -> list[Dispute]:
    """A list of disputes: ``{"disputes": [...]}``."""
    return [parse_dispute(item, request_id, f"disputes[{i}]")
            for i, item in enumerate(_list_of(body, ("disputes",), "disputes", request_id))]


def _list_of(body: object, names: Sequence[str], what: str,
             request_id: str | None) -> list[Any]:
    f = Fields(body, what=what, request_id=request_id)
    for name in names:
        if f.raw(name) is not None:
            return f.items(name)
    raise f.error(names[0], "is missing")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
