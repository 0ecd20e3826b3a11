"""The live scanner's cost estimates of its rescue steps (vision.qr.costs.StepCosts)."""

from __future__ import annotations

import pytest

from vision.qr.costs import StepCosts


def test_a_step_never_run_fits_and_costs_nothing_yet() -> None:
    costs = StepCosts(30.0)
    assert costs.estimate("grid") == 0.0
    assert costs.fits("grid", 29.0)


def test_a_slow_first_run_counts_one_budget_at_most_and_does_not_bar_the_step() -> None:
    costs = StepCosts(30.0)
    costs.learn("grid", 70.0)  # warm-up: caches filled on the first run
    assert costs.estimate("grid") == 30.0
    assert not costs.barred("grid")
    for _ in range(6):
        costs.learn("grid", 12.0)
    assert costs.estimate("grid") < 20.0
    assert costs.fits("grid", 5.0)


def test_the_estimate_is_a_moving_average_of_runs_after_the_first() -> None:
    costs = StepCosts(30.0)
    costs.learn("zbar", 2.0)
    costs.learn("zbar", 7.0)
    assert costs.estimate("zbar") == pytest.approx(0.8 * 2.0 + 0.2 * 7.0)


def test_a_step_that_does_not_fit_decays_so_it_runs_again_later() -> None:
    costs = StepCosts(30.0)
    costs.learn("grid", 25.0)
    costs.learn("grid", 25.0)
    assert not costs.fits("grid", 10.0)
    assert costs.estimate("grid") == pytest.approx(22.5)
    assert not costs.fits("grid", 10.0)  # offered again in the same frame: no second decay
    assert costs.estimate("grid") == pytest.approx(22.5)
    frames = 0
    while not costs.fits("grid", 10.0):
        costs.start_frame()
        frames += 1
        assert frames < 10
    assert costs.estimate("grid") <= 20.0


def test_a_few_slow_runs_do_not_bar_a_step_but_a_slow_average_does() -> None:
    costs = StepCosts(30.0)
    costs.learn("grid", 60.0)  # warm-up
    for cost in (15.0, 70.0, 12.0, 70.0, 14.0, 16.0, 65.0):  # large regions now and then
        costs.learn("grid", cost)
        assert not costs.barred("grid")
    costs = StepCosts(30.0)
    costs.learn("wechat", 100.0)  # warm-up: counted as one budget
    runs = 1
    while not costs.barred("wechat"):
        costs.learn("wechat", 100.0)
        runs += 1
        assert runs < 10
    assert not costs.fits("wechat", 0.0)
    estimate = costs.estimate("wechat")
    for _ in range(50):
        costs.start_frame()
        assert not costs.fits("wechat", 0.0)
    assert costs.estimate("wechat") == estimate  # a barred step's estimate does not decay


@pytest.mark.parametrize(("budget", "retry"), [(0.0, 1.5), (-1.0, 1.5), (30.0, 0.0)])
def test_bad_settings_are_refused(budget: float, retry: float) -> None:
    with pytest.raises(ValueError):
        StepCosts(budget, retry_within=retry)


def test_a_step_skipped_before_it_ever_ran_is_still_learnt_as_a_first_run() -> None:
    costs = StepCosts(10.0)
    assert not costs.fits("grid", 12.0)  # the budget is spent before its first run
    assert costs.estimate("grid") == 0.0
    costs.learn("grid", 40.0)
    assert costs.estimate("grid") == 10.0  # a first run: one budget at most
