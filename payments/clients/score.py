"""Client of the score service: credit scores and event batch ingestion."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from payments.clients.errors import BadArgument
from payments.clients.http import ServiceClient
from payments.clients.models import (
    SCORE_BASELINE,
    SCORE_MAX,
    SCORE_MIN,
    BatchResult,
    RejectedEvent,
    Restriction,
    RestrictionOrigin,
    ScoreFactor,
    ScoreReport,
)
from payments.clients.parse import Fields

if TYPE_CHECKING:
    from payments.events import Event

_PURPOSE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# The service accepts at most this many events per batch.
MAX_BATCH_EVENTS = 500


def check_identifier(value: object, what: str) -> str:
    """Return ``value`` if it is a usable opaque id (1..128 visible ASCII characters)."""
    if not isinstance(value, str) or not value:
        raise BadArgument(f"{what} must be a non-empty string")
    if len(value) > 128 or not value.isascii() or not value.isprintable() or " " in value:
        raise BadArgument(f"{what} must be 1..128 visible ASCII characters")
    return value


class ScoreClient(ServiceClient):
    """Talks to the score service; safe to share between threads."""

    SERVICE = "score service"

    def get_score(self, subject_id: str, *, purpose: str | None = None) -> ScoreReport:
        """The subject's current score; :class:`NotFoundError` for an unknown subject.

        ``purpose`` (e.g. ``deposit_decision``) says what the read decides: the back end
        records it for the person's report ("which decisions used my score").
        """
        check_identifier(subject_id, "subject_id")
        path = f"/v1/subjects/{quote(subject_id, safe='')}/score"
        if purpose is not None:
            if not _PURPOSE_RE.fullmatch(purpose):
                raise BadArgument("purpose must be a snake_case word, e.g. deposit_decision")
            path += f"?purpose={purpose}"
        response = self._http.request("GET", path)
        return parse_score(response.body, subject_id, response.request_id)

    def upload_events(self, events: Sequence[Event]) -> BatchResult:
        """Send up to 500 events in one batch (idempotent by event id, so it is retried)."""
        if not events:
            return BatchResult(accepted=0, duplicates=0)
        if len(events) > MAX_BATCH_EVENTS:
            raise BadArgument(f"at most {MAX_BATCH_EVENTS} events per batch, got {len(events)}")
        payload = {"events": [event.to_dict() for event in events]}
        response = self._http.request(
            "POST", "/v1/events:batch", json_body=payload, idempotent=True
        )
        return parse_batch_result(response.body, response.request_id)


def parse_score(body: object, subject_id: str, request_id: str | None) -> ScoreReport:
    """Validate a score response body into a :class:`ScoreReport`."""
    fields = Fields(body, what="score response", request_id=request_id)
    if fields.text("subject_id") != subject_id:
        raise fields.error("subject_id", f"does not match the requested subject {subject_id!r}")
    score = fields.integer("score")
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise fields.error("score", f"must be in {SCORE_MIN}..{SCORE_MAX}, got {score}")
    factors = []
    for i, item in enumerate(fields.items("factors", optional=True)):
        f = Fields(item, what=f"score response factors[{i}]", request_id=request_id)
        factors.append(ScoreFactor(f.text("code"), f.text("description"), f.integer("points"),
                                   event_ids=parse_ids(f, "event_ids"),
                                   text=f.text("text", optional=True) or ""))
    restrictions = [parse_restriction(item, f"score response restrictions[{i}]", request_id)
                    for i, item in enumerate(fields.items("restrictions", optional=True))]
    as_of = fields.time("as_of")
    if as_of is None:  # unreachable: time() without optional never returns None
        raise fields.error("as_of", "is missing")
    baseline = fields.integer("baseline") if fields.raw("baseline") is not None \
        else SCORE_BASELINE
    return ScoreReport(subject_id, score, as_of, tuple(factors), tuple(restrictions), baseline)


def parse_ids(fields: Fields, name: str) -> tuple[str, ...]:
    """An optional list of ids (strings), e.g. a factor's ``event_ids``."""
    ids = fields.items(name, optional=True)
    if not all(isinstance(i, str) and i for i in ids):
        raise fields.error(name, "must be a list of non-empty strings")
    return tuple(ids)


def parse_restriction(item: object, what: str, request_id: str | None) -> Restriction:
    """A restriction ``{"code", "description", "id"?, "origin"?}``."""
    r = Fields(item, what=what, request_id=request_id)
    origin = None
    if r.raw("origin") is not None:
        o = Fields(r.raw("origin"), what=f"{what} origin", request_id=request_id)
        origin = RestrictionOrigin(o.text("source"), o.text("reference"),
                                   o.time("listed_at", optional=True))
    rid = r.raw("id")
    return Restriction(r.text("code"), r.text("description"),
                       id=None if rid is None else str(rid), origin=origin)


def parse_batch_result(body: object, request_id: str | None) -> BatchResult:
    """Validate an events-batch response; counts may come as integers or as id lists."""
    fields = Fields(body, what="events batch response", request_id=request_id)
    counts = []
    for name in ("accepted", "duplicates"):
        value = fields.raw(name)
        if isinstance(value, list):
            counts.append(len(value))
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            counts.append(value)
        else:
            raise fields.error(name, "must be a count or a list of event ids")
    rejected = []
    for i, item in enumerate(fields.items("rejected", optional=True)):
        r = Fields(item, what=f"events batch response rejected[{i}]", request_id=request_id)
        error = r.raw("error")
        text = error if isinstance(error, str) else str(error)[:200]
        rejected.append(RejectedEvent(r.text("id"), text))
    return BatchResult(counts[0], counts[1], tuple(rejected))

