"""The load bench drives every call kind against a real back-end process without errors."""

from __future__ import annotations

from pathlib import Path

from terminal.bench.load import KINDS, LoadPlan, plot_latencies, run_load


def test_a_short_load_run_serves_every_call_kind_without_errors(tmp_path: Path,
                                                               store_url: str) -> None:
    plan = LoadPlan(terminals=3, events=500, seconds=1.0, seed=7, store=store_url or "sqlite")
    summary, latencies = run_load(plan, tmp_path)
    assert set(summary["by_kind"]) == set(KINDS)
    assert summary["total"]["errors"] == 0, summary["by_kind"]
    assert all("refused_events" not in s["statuses"] for s in summary["by_kind"].values())
    assert summary["total"]["requests"] == sum(len(v) for v in latencies.values()) > 0
    assert summary["stored_events"] == 500 and summary["terminals"] == 3
    assert summary["store"] == ("postgresql" if store_url else "sqlite")
    plot_latencies(latencies, summary, tmp_path / "load.png")
    assert (tmp_path / "load.png").stat().st_size > 0


def test_the_target_is_a_paced_run_that_kept_up_within_the_latency() -> None:
    from terminal.bench.load import target_verdict

    paced = LoadPlan(rate=1000.0)
    assert target_verdict({"rps": 993.0, "p99_ms": 80.0}, paced)["met"]
    assert not target_verdict({"rps": 993.0, "p99_ms": 130.0}, paced)["met"]
    assert not target_verdict({"rps": 900.0, "p99_ms": 80.0}, paced)["met"]  # fell behind
    assert not target_verdict({"rps": 790.0, "p99_ms": 20.0}, LoadPlan(rate=800.0))["met"]
    closed = LoadPlan()
    assert target_verdict({"rps": 1341.0, "p99_ms": 250.0}, closed) == {
        "rps": 1000.0, "p99_ms": 100.0, "mode": "closed_loop", "met": False}
