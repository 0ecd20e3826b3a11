"""Uploader: batches, backoff on outages, duplicates, rejects, flush and the thread."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from payments.clients import ScoreClient, ServiceSettings
from payments.events import Event, make_event
from payments.outbox import Outbox
from payments.uploader import Uploader, UploadReport
from tests.clients_loopback import (
    LoopbackServer,
    Received,
    RecordingSleep,
    Reply,
    closed_port_url,
    error_body,
)


class FakeIngest:
    """Ingestion idempotent by event id, with switchable outages and rejected ids."""

    def __init__(self) -> None:
        self.stored: dict[str, dict] = {}
        self.batches: list[list[str]] = []
        self.down = 0  # answer 503 to this many more requests
        self.reject: set[str] = set()
        self.refuse_batches_over = 0  # answer 400 to batches larger than this (0 = never)

    def __call__(self, request: Received) -> Reply:
        if self.down:
            self.down -= 1
            return Reply(503, error_body("overloaded"))
        events = request.json()["events"]
        if self.refuse_batches_over and len(events) > self.refuse_batches_over:
            return Reply(400, error_body("invalid_request", "batch too big"))
        ids = [e["id"] for e in events]
        self.batches.append(ids)
        accepted, duplicates, rejected = 0, [], []
        for e in events:
            if e["id"] in self.reject:
                rejected.append({"id": e["id"], "error": "attribute not allowed"})
            elif e["id"] in self.stored:
                duplicates.append(e["id"])
            else:
                self.stored[e["id"]] = e
                accepted += 1
        return Reply(200, {"accepted": accepted, "duplicates": duplicates, "rejected": rejected})


class FakeTime:
    """A monotonic clock and a wait that advances it, recording the waits."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def new_event(n: int) -> Event:
    return make_event("ride.ended", terminal_id="bike-0001", subject_id="sub_1",
                      attributes={"ride_id": f"ride_{n}"},
                      clock=lambda: datetime(2026, 11, 26, tzinfo=UTC))


def score_client(url: str) -> ScoreClient:
    settings = ServiceSettings(url=url, api_key="k", max_retries=0)
    return ScoreClient(settings, sleep=RecordingSleep(), rng=random.Random(1))


def fill(box: Outbox, n: int) -> list[Event]:
    events = [new_event(i) for i in range(n)]
    for e in events:
        box.append(e)
    return events


def uploader(box: Outbox, client: ScoreClient, t: FakeTime, **kw: object) -> Uploader:
    options: dict = {"batch_size": 4, "backoff_base_s": 1.0, "backoff_max_s": 8.0,
                     "clock": t.clock, "rng": random.Random(2), "wait": t.wait}
    options.update(kw)
    return Uploader(box, client, **options)


def test_run_once_sends_one_batch_and_marks_it_delivered(tmp_path: Path) -> None:
    ingest, t = FakeIngest(), FakeTime()
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        events = fill(box, 6)
        report = uploader(box, client, t).run_once()
        assert report == UploadReport(sent=4, delivered=4)
        assert ingest.batches == [[e.id for e in events[:4]]]
        assert box.counts().pending == 2


def test_empty_outbox_sends_nothing(tmp_path: Path) -> None:
    ingest, t = FakeIngest(), FakeTime()
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        assert uploader(box, client, t).run_once() == UploadReport()
    assert ingest.batches == []


def test_outage_backs_off_and_keeps_the_events(tmp_path: Path) -> None:
    ingest, t = FakeIngest(), FakeTime()
    ingest.down = 2
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        fill(box, 3)
        up = uploader(box, client, t)
        first = up.run_once()
        assert first.error is not None and 0 <= first.retry_in_s <= 1.0
        assert box.pending(10)[0].attempts == 1
        skipped = up.run_once()  # clock has not moved: still backing off, nothing sent
        assert skipped.skipped and len(server.received) == 1
        t.now += first.retry_in_s
        second = up.run_once()
        assert second.error is not None and 0 <= second.retry_in_s <= 2.0
        t.now += second.retry_in_s
        assert up.run_once().delivered == 3
        assert box.counts().pending == 0


def test_backoff_ceiling_grows_then_caps(tmp_path: Path) -> None:
    t = FakeTime()
    with Outbox(tmp_path / "o.db") as box, score_client(closed_port_url()) as client:
        fill(box, 1)
        up = uploader(box, client, t, rng=random.Random(0))
        delays = []
        for _ in range(8):
            report = up.run_once()
            delays.append(report.retry_in_s)
            t.now += report.retry_in_s
        ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]
        assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
        assert box.counts().pending == 1
        assert box.pending(1)[0].attempts == 8


def test_redelivery_after_lost_acknowledgement_counts_as_delivered(tmp_path: Path) -> None:
    ingest, t = FakeIngest(), FakeTime()
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        events = fill(box, 2)
        ingest.stored[events[0].id] = {}  # the service got it before, the terminal crashed
        report = uploader(box, client, t).run_once()
    assert (report.delivered, report.duplicates) == (2, 1)


def test_rejected_events_are_dropped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ingest, t = FakeIngest(), FakeTime()
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        events = fill(box, 3)
        ingest.reject = {events[1].id}
        report = uploader(box, client, t).run_once()
        assert (report.delivered, report.rejected) == (2, 1)
        assert box.counts().dropped == 1 and box.counts().pending == 0
    assert any(events[1].id in r.getMessage() for r in caplog.records)


def test_flush_drains_everything_waiting_out_backoffs(tmp_path: Path) -> None:
    ingest, t = FakeIngest(), FakeTime()
    ingest.down = 2
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        events = fill(box, 10)
        result = uploader(box, client, t).flush(deadline_s=60.0)
        assert (result.delivered, result.pending, result.error) == (10, 0, None)
        assert len(t.waits) == 2
        assert set(ingest.stored) == {e.id for e in events}


def test_flush_stops_at_the_deadline_when_the_service_stays_down(tmp_path: Path) -> None:
    t = FakeTime()
    with Outbox(tmp_path / "o.db") as box, score_client(closed_port_url()) as client:
        fill(box, 5)
        result = uploader(box, client, t).flush(deadline_s=20.0)
        assert result.pending == 5 and result.delivered == 0
        assert result.error is not None
        assert sum(t.waits) < 20.0


def test_batch_refused_as_a_whole_is_narrowed_down(tmp_path: Path) -> None:
    ingest, t = FakeIngest(), FakeTime()
    ingest.refuse_batches_over = 1
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        fill(box, 3)
        result = uploader(box, client, t).flush(deadline_s=60.0)
        assert (result.delivered, result.pending) == (3, 0)
        assert all(len(batch) == 1 for batch in ingest.batches)


def test_background_thread_uploads_until_stopped(tmp_path: Path) -> None:
    ingest = FakeIngest()
    drained = threading.Event()
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:

        def on_report(report: UploadReport) -> None:
            if report.delivered and box.counts().pending == 0:
                drained.set()

        up = Uploader(box, client, batch_size=4, idle_interval_s=60.0, on_report=on_report)
        up.start()
        try:
            fill(box, 9)
            up.notify()
            assert drained.wait(10.0)
        finally:
            up.stop()
            up.stop()
        assert len(ingest.stored) == 9


def test_bad_batch_size_is_refused(tmp_path: Path) -> None:
    with (
        Outbox(tmp_path / "o.db") as box,
        score_client("http://127.0.0.1:9") as client,
        pytest.raises(ValueError, match="batch_size"),
    ):
        Uploader(box, client, batch_size=0)


def test_flush_still_works_after_stop_for_a_last_drain_at_shutdown(tmp_path: Path) -> None:
    ingest, t = FakeIngest(), FakeTime()
    with LoopbackServer(ingest) as server, Outbox(tmp_path / "o.db") as box, \
            score_client(server.url) as client:
        fill(box, 5)
        up = uploader(box, client, t)
        up.start()
        up.stop()
        assert up.flush(deadline_s=5.0).pending == 0
