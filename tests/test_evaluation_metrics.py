from __future__ import annotations

import numpy as np
import pytest

from training import evaluation
from training.evaluation import ScoreMatrix
from training.evaluation import calibrate
from training.evaluation import cross_validate
from training.evaluation import fallback_rules
from training.evaluation import fold_ids
from training.evaluation import judge_out_of_fold
from training.evaluation import metrics

FAQS = np.array([10, 20, 30])


def matrix(semantic, lexical=None, reject=None):
    semantic = np.array(semantic, dtype=np.float32)
    lexical = semantic if lexical is None else np.array(lexical, dtype=np.float32)
    if reject is None:
        return ScoreMatrix(FAQS[: semantic.shape[1]], semantic, lexical)
    reject = np.array(reject, dtype=np.float32)
    return ScoreMatrix(FAQS[: semantic.shape[1]], semantic, lexical, reject, reject)


def test_metrics_on_a_hand_computed_case():
    scores = matrix(
        [
            [0.9, 0.1, 0.0],  # FAQ 10 expected: rank 1, answered right: cost 0
            [0.2, 0.8, 0.5],  # FAQ 30 expected: rank 2, answered wrong: cost 3
            [0.3, 0.2, 0.1],  # FAQ 20 expected: rank 2, but below threshold: cost 1
            [0.1, 0.2, 0.25],  # out of scope, below threshold -> fallback, right: cost 0
            [0.7, 0.1, 0.1],  # out of scope, answered -> wrong: cost 3
        ]
    )
    figures = metrics(scores, [10, 30, 20, None, None], semantic_weight=1.0, threshold=0.5)
    assert figures["n"] == 5 and figures["n_in_scope"] == 3 and figures["n_out_of_scope"] == 2
    assert figures["accuracy_at_1"] == pytest.approx(1 / 3)
    assert figures["accuracy_at_3"] == pytest.approx(1.0)
    assert figures["mrr"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert figures["oos_recall"] == pytest.approx(0.5)
    assert figures["oos_precision"] == pytest.approx(0.5)  # fallbacks: rows 2 and 3
    assert figures["overall_accuracy"] == pytest.approx(2 / 5)
    assert figures["cost"] == pytest.approx((0 + 3 + 1 + 0 + 3) / 5)
    assert metrics(scores, [10, 30, 20, None, None], 1.0, 0.5, wrong_cost=1)[
        "cost"
    ] == pytest.approx(1 - 2 / 5)  # one fallback per wrong answer: cost = 1 - overall
    assert figures["rejected_by"] == {
        "threshold": {"in_scope": 1, "out_of_scope": 1},
        "reject_class": {"in_scope": 0, "out_of_scope": 0},
    }


def test_the_reject_class_overrides_a_high_faq_score():
    top = np.array([0.9, 0.9, 0.9, 0.3])
    reject = np.array([0.95, 0.85, 0.5, 0.99])
    below, beaten = fallback_rules(top, reject, threshold=0.5, reject_margin=0.02)
    assert below.tolist() == [False, False, False, True]
    assert beaten.tolist() == [True, False, False, False]  # row 3: the threshold said no first
    _, beaten = fallback_rules(top, reject, threshold=0.5, reject_margin=-0.1)
    assert beaten.tolist() == [True, True, False, False]  # a negative margin: even when behind
    _, beaten = fallback_rules(top, reject, threshold=0.5, reject_margin=None)
    assert not beaten.any()


def test_metrics_count_what_the_reject_class_refused():
    scores = matrix(
        [[0.9, 0.1], [0.8, 0.2], [0.85, 0.1], [0.2, 0.1]],
        reject=[0.5, 0.95, 0.9, 0.1],
    )
    figures = metrics(scores, [10, 20, None, None], 1.0, threshold=0.5, reject_margin=0.0)
    # row 1: in scope but beaten (a refused message, cost 1); row 2: out of scope, caught by
    # the reject class although its FAQ score is high; row 3: below the threshold
    assert figures["rejected_by"] == {
        "threshold": {"in_scope": 0, "out_of_scope": 1},
        "reject_class": {"in_scope": 1, "out_of_scope": 1},
    }
    assert figures["oos_recall"] == 1.0
    assert figures["cost"] == pytest.approx(1 / 4)
    assert figures["reject_margin"] == 0.0


def test_calibration_picks_the_signal_that_separates():
    # lexical ranks correctly, semantic ranks wrongly: calibration must lean lexical
    semantic = [[0.1, 0.9, 0.0], [0.9, 0.1, 0.0], [0.2, 0.1, 0.1]]
    lexical = [[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.1, 0.1, 0.1]]
    calibration = calibrate(matrix(semantic, lexical), [10, 20, None])
    assert calibration.semantic_weight < 0.5
    assert calibration.cost == 0.0
    assert calibration.reject_margin is None  # no reject class to calibrate


def reject_case() -> tuple[ScoreMatrix, list[int | None]]:
    """In scope and out of scope share their FAQ scores; only the reject class tells them apart.

    No threshold separates them (both at 0.8), but out-of-scope rows are nearer to an
    out-of-scope example (0.9) than in-scope rows are (0.5).
    """
    scores = matrix([[0.8, 0.1]] * 6 + [[0.8, 0.2]] * 4, reject=[0.5] * 6 + [0.9] * 4)
    return scores, [10] * 6 + [None] * 4


def test_calibration_finds_the_reject_margin_a_threshold_cannot_replace():
    scores, expected = reject_case()
    with_reject = calibrate(scores, expected, (1.0,))
    assert with_reject.cost == 0.0
    assert with_reject.reject_margin is not None
    assert 0 <= with_reject.reject_margin <= 0.1  # between the two leads, never below 0
    alone = calibrate(scores, expected, (1.0,), use_reject_class=False)
    assert alone.reject_margin is None
    # the best a threshold can do: answer all (4 wrong answers, cost 3 each) or refuse all
    assert alone.cost == pytest.approx(min(4 * 3, 6 * 1) / 10)


def test_the_reject_class_never_refuses_when_an_faq_is_ahead():
    # wrong answers (FAQ 99 is not indexed) whose nearest out-of-scope example is just behind
    # their FAQ: a margin of -0.03 would refuse them, but an FAQ ahead is an FAQ ahead
    scores = matrix([[0.8, 0.1]] * 12 + [[0.8, 0.2]] * 3, reject=[0.5] * 12 + [0.78] * 3)
    calibration = calibrate(scores, [10] * 12 + [99] * 3, (1.0,))
    assert calibration.reject_margin is None or calibration.reject_margin >= 0
    # answer all: 3 wrong answers (cost 9) beat refusing 12 right ones; -0.03 would cost 3
    assert calibration.cost == pytest.approx(9 / 15)


def test_a_dearer_wrong_answer_raises_the_threshold():
    # one FAQ; 3 right answers at 0.9, one wrong answer and one out-of-scope message at 0.7,
    # 3 right answers at 0.6: answering 0.6-0.7 gains 3 but costs 2 wrong answers
    scores = matrix([[s] for s in [0.9] * 3 + [0.7, 0.7] + [0.6] * 3])
    expected = [10] * 3 + [99, None] + [10] * 3  # 99 is no indexed FAQ: always wrong
    cheap = calibrate(scores, expected, (1.0,), wrong_cost=1.0)
    dear = calibrate(scores, expected, (1.0,), wrong_cost=3.0)
    assert cheap.threshold < 0.6  # 2 wrong answers cost less than 3 refused right ones
    assert 0.7 < dear.threshold < 0.9  # 2 x 3 > 3: refuse from 0.7 down


def test_sample_weights_decide_the_trade():
    scores, expected = matrix([[0.8], [0.8], [0.8]]), [10, None, None]
    # the lone in-scope row at full weight against two out-of-scope rows: refuse them all
    assert calibrate(scores, expected, (1.0,), wrong_cost=1.0).threshold > 0.8
    light = calibrate(
        scores, expected, (1.0,), wrong_cost=1.0, sample_weight=np.array([1, 0.2, 0.2])
    )
    assert light.threshold < 0.8  # out-of-scope rows weigh little: answer


def overfit_case() -> tuple[ScoreMatrix, list[int | None]]:
    """One FAQ; in scope at 0.9, out of scope at 0.1, and one lone out-of-scope row at 0.6.

    On all rows the best threshold lies between 0.6 and 0.9 (0.75), so every row is right.
    A calibration that never saw the lone row puts the threshold between 0.1 and 0.9 (0.5),
    which answers it: the row is only right because it was calibrated on.
    """
    scores = [0.9] * 5 + [0.1] * 4 + [0.6]
    expected: list[int | None] = [10] * 5 + [None] * 4 + [None]
    return ScoreMatrix(FAQS[:1], np.array(scores)[:, None], np.array(scores)[:, None]), expected


def test_cross_validation_catches_a_threshold_fitted_to_one_row():
    scores, expected = overfit_case()
    in_sample = calibrate(scores, expected, wrong_cost=1.0)
    assert in_sample.cost == 0.0
    assert in_sample.threshold == pytest.approx(0.75)
    # 5 folds of 2 rows; every training part keeps rows at 0.1 and 0.9. The fold holding the
    # lone row calibrates 0.5 and answers it (wrong); every other fold calibrates 0.75 and
    # gets its rows right, whichever they are: 9 of 10.
    for seed in (0, 7):
        result = cross_validate(scores, expected, fold_ids(10, 5, seed), wrong_cost=1.0)
        assert result.figures["overall_accuracy"] == pytest.approx(0.9)
        assert result.figures["cost"] == pytest.approx(0.1)
        assert result.figures["oos_recall"] == pytest.approx(4 / 5)


def test_another_encoders_calibrations_judge_a_copy_without_the_in_sample_flattery():
    """The parity check's rule. float32 is perfect in sample only because its threshold (0.75)
    was fitted to the lone row at 0.6; an int8 copy that moves that row to 0.76 answers it and
    would lose 0.1 in sample. Judged out of fold with float32's calibrations, both meet the
    row with a threshold that never saw it, and tie."""
    scores, expected = overfit_case()
    folds = fold_ids(10, 5)
    reference = cross_validate(scores, expected, folds, wrong_cost=1.0)
    copy_values = scores.semantic.copy()
    copy_values[9] = 0.76
    copy = ScoreMatrix(scores.faq_ids, copy_values, copy_values)
    in_sample = calibrate(scores, expected, wrong_cost=1.0)
    assert metrics(scores, expected, 1.0, in_sample.threshold)["overall_accuracy"] == 1.0
    assert metrics(copy, expected, 1.0, in_sample.threshold)["overall_accuracy"] == 0.9

    same = judge_out_of_fold(scores, expected, folds, reference.calibrations, wrong_cost=1.0)
    assert same.figures == reference.figures
    judged = judge_out_of_fold(copy, expected, folds, reference.calibrations, wrong_cost=1.0)
    assert judged.figures["overall_accuracy"] == pytest.approx(0.9)
    assert judged.figures["overall_accuracy"] == reference.figures["overall_accuracy"]


def test_judging_out_of_fold_needs_one_calibration_per_fold():
    scores, expected = overfit_case()
    reference = cross_validate(scores, expected, fold_ids(10, 5), wrong_cost=1.0)
    with pytest.raises(ValueError, match="shorter|longer"):
        judge_out_of_fold(scores, expected, fold_ids(10, 5), reference.calibrations[:4])


def test_cross_validated_figures_on_a_hand_computed_case():
    # The rows at 0.8 expect FAQ 20 but have FAQ 10 on top: wrong if answered. At cost 3 every
    # fold refuses them (2 refused in-scope rows cost 2, answering them 6) and keeps 0.9 rows.
    scores = matrix([[0.9, 0.1, 0.0]] * 3 + [[0.8, 0.3, 0.0]] * 2 + [[0.2, 0.1, 0.0]] * 3)
    expected: list[int | None] = [10] * 3 + [20] * 2 + [None] * 3
    result = cross_validate(scores, expected, fold_ids(8, 4))
    assert result.figures["overall_accuracy"] == pytest.approx(6 / 8)
    assert result.figures["cost"] == pytest.approx(2 / 8)
    assert result.figures["accuracy_at_1"] == pytest.approx(3 / 5)
    assert calibrate(scores, expected).cost == pytest.approx(2 / 8)


def test_only_measured_rows_count_and_the_others_get_their_own_recall():
    scores, expected = reject_case()
    # rows 0-5 and 6-7 "the file", rows 8-9 "examples": calibrated on, not in the figures
    measured = np.arange(10) < 8
    result = cross_validate(scores, expected, fold_ids(10, 5), measured=measured)
    assert result.figures["n"] == 8 and result.figures["n_out_of_scope"] == 2
    assert result.extra_oos_recall == 1.0
    assert result.figures["oos_recall"] == 1.0
    assert len(result.calibrations) == 5


def record_folds(monkeypatch: pytest.MonkeyPatch) -> list[list]:
    """Spy on calibrate: each fold's training rows (each row expects its own FAQ)."""
    trained: list[list] = []
    real_calibrate = evaluation.calibrate

    def spy_calibrate(scores, expected, *args, **kwargs):  # noqa: ANN001, ANN202
        trained.append(list(expected))
        return real_calibrate(scores, expected, *args, **kwargs)

    monkeypatch.setattr(evaluation, "calibrate", spy_calibrate)
    return trained


def one_faq_per_row(n: int) -> tuple[ScoreMatrix, list[int | None]]:
    rng = np.random.default_rng(2)
    faq_ids = np.arange(100, 100 + n)
    semantic = rng.random((n, n))
    return ScoreMatrix(faq_ids, semantic, rng.random((n, n))), [int(i) for i in faq_ids]


def test_cross_validation_folds_hold_out_every_row_exactly_once(monkeypatch):
    scores, expected = one_faq_per_row(23)
    trained = record_folds(monkeypatch)
    folds = fold_ids(23, 5)
    cross_validate(scores, expected, folds)
    assert len(trained) == 5
    held_out = [row for train in trained for row in expected if row not in train]
    assert sorted(held_out) == expected  # every row once, none twice
    assert sorted(np.bincount(folds).tolist()) == [4, 4, 5, 5, 5]  # as even as it gets
    for fold, train in enumerate(trained):  # calibrated on exactly the other rows
        assert sorted(train) == [e for e, f in zip(expected, folds, strict=True) if f != fold]


def test_folds_are_deterministic_for_a_seed():
    assert fold_ids(20, 5, seed=3).tolist() == fold_ids(20, 5, seed=3).tolist()
    assert fold_ids(20, 5, seed=3).tolist() != fold_ids(20, 5, seed=4).tolist()
    scores, expected = one_faq_per_row(20)
    first = cross_validate(scores, expected, fold_ids(20, 5, 3)).figures
    assert first == cross_validate(scores, expected, fold_ids(20, 5, 3)).figures


def test_stacking_keeps_the_reject_class_and_refuses_a_mix():
    with_reject = matrix([[0.9, 0.1]], reject=[0.2])
    stacked = ScoreMatrix.stack([with_reject, matrix([[0.3, 0.4]], reject=[0.7])])
    assert stacked.reject_semantic.tolist() == pytest.approx([0.2, 0.7])
    assert stacked.subset(np.array([1])).reject_fused(1.0).tolist() == pytest.approx([0.7])
    with pytest.raises(ValueError, match="reject class"):
        ScoreMatrix.stack([with_reject, matrix([[0.3, 0.4]])])
    assert np.isneginf(matrix([[0.3, 0.4]]).reject_fused(0.0)).all()  # no nan at weight 0
