"""The promotion guard: cross-validated cost not higher, out-of-scope recall not lower."""

from __future__ import annotations

import pytest

from bot.retrain import promotion_decision

ACTIVE = {"cost_cv": 0.40, "oos_recall_cv": 0.90, "cost": 0.30, "oos_recall": 0.95}


def figures(cost: float, recall: float) -> dict:
    # in-sample figures that would pass: the guard must not look at them
    return {"cost_cv": cost, "oos_recall_cv": recall, "cost": 0.0, "oos_recall": 1.0}


def test_a_candidate_that_is_not_worse_is_promoted():
    decision = promotion_decision(ACTIVE, figures(0.35, 0.90), tolerance=0.0, force=False)
    assert decision["activated"] is True
    assert decision["reason"] == "not worse than the active version"
    assert [check["passed"] for check in decision["checks"]] == [True, True]
    assert (decision["metric"], decision["candidate"], decision["active"]) == (
        "cost_cv",
        0.35,
        0.40,
    )


def test_the_guard_refuses_a_candidate_that_drops_oos_recall():
    # cheaper overall, but it refuses out-of-scope messages less often
    decision = promotion_decision(ACTIVE, figures(0.30, 0.80), tolerance=0.05, force=False)
    assert decision["activated"] is False
    assert decision["reason"] == "out-of-scope recall drops by more than 0.05"
    cost, recall = decision["checks"]
    assert cost["passed"] is True
    assert (recall["metric"], recall["candidate"], recall["active"], recall["passed"]) == (
        "oos_recall_cv",
        0.80,
        0.90,
        False,
    )
    assert decision["oos_recall"] == {"metric": "oos_recall_cv", "active": 0.90, "candidate": 0.80}


def test_a_drop_within_the_tolerance_is_accepted():
    assert promotion_decision(ACTIVE, figures(0.30, 0.86), 0.05, False)["activated"] is True
    assert promotion_decision(ACTIVE, figures(0.30, 0.86), 0.0, False)["activated"] is False


def test_the_guard_refuses_a_candidate_that_costs_more_even_if_it_refuses_more():
    decision = promotion_decision(ACTIVE, figures(0.45, 0.99), tolerance=0.0, force=False)
    assert decision["activated"] is False
    assert decision["reason"] == "costs more than the active version"
    both = promotion_decision(ACTIVE, figures(0.45, 0.5), tolerance=0.0, force=False)
    assert both["reason"] == (
        "costs more than the active version and out-of-scope recall drops by more than 0"
    )


def test_force_activates_and_says_what_it_overrode():
    decision = promotion_decision(ACTIVE, figures(0.45, 0.99), tolerance=0.0, force=True)
    assert decision["activated"] is True and decision["forced"] is True
    assert decision["reason"] == "forced, although it costs more than the active version"


def test_the_first_version_has_nothing_to_beat():
    decision = promotion_decision(None, figures(0.9, 0.1), tolerance=0.0, force=False)
    assert decision["activated"] is True and decision["reason"] == "no active version"
    assert decision["checks"] == [] and decision["active"] is None


def test_a_file_too_small_for_folds_is_judged_in_sample():
    small = {"cost_cv": None, "oos_recall_cv": None, "cost": 0.5, "oos_recall": 0.5}
    decision = promotion_decision(small, {**small, "cost": 0.6}, tolerance=0.0, force=False)
    assert decision["activated"] is False
    assert [check["metric"] for check in decision["checks"]] == ["cost", "oos_recall"]


@pytest.mark.parametrize("noise", [1e-12, -1e-12])
def test_float_noise_is_no_difference(noise):
    same = figures(0.40 + noise, 0.90 - abs(noise))
    assert promotion_decision(ACTIVE, same, 0.0, False)["activated"] is True


def test_retrain_prints_both_figures_and_the_decision():
    from bot.cli.retrain_command import describe

    after = {**figures(0.30, 0.80), "threshold": 0.5, "reject_margin": 0.01, "weights": {}}
    for key in ("accuracy_at_1", "overall_accuracy"):
        after |= {key: 0.9, f"{key}_cv": 0.8}
    report = {
        "version": "v2",
        "activated": False,
        "seconds": 1.0,
        "promotion": promotion_decision(ACTIVE, after, tolerance=0.05, force=False),
        "loss_before": 1.0,
        "loss_after": 0.5,
        "steps": 3,
        "device": "cpu",
        "evaluator": None,
        "before": ACTIVE,
        "after": after,
    }
    text = "\n".join(describe(report))
    assert "v2 was saved but NOT activated" in text
    assert "Promotion guard: out-of-scope recall drops by more than 0.05." in text
    assert "cost_cv         candidate 0.300 vs active 0.400 (may not be higher: ok)" in text
    assert (
        "oos_recall_cv   candidate 0.800 vs active 0.900 (may drop by at most 0.05: FAILED)"
        in (text)
    )
    assert "oos_recall          0.900 -> 0.800     0.950 -> 1.000" in text  # cv, in-sample
