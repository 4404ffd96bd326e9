from __future__ import annotations

import numpy as np
import pytest

from training import evaluation
from training.evaluation import ScoreMatrix
from training.evaluation import best_threshold
from training.evaluation import calibrate
from training.evaluation import cross_validated_accuracy
from training.evaluation import metrics

FAQS = np.array([10, 20, 30])


def matrix(semantic, lexical=None):
    semantic = np.array(semantic, dtype=np.float32)
    lexical = semantic if lexical is None else np.array(lexical, dtype=np.float32)
    return ScoreMatrix(FAQS, semantic, lexical)


def test_metrics_on_a_hand_computed_case():
    scores = matrix(
        [
            [0.9, 0.1, 0.0],  # FAQ 10 expected: rank 1
            [0.2, 0.8, 0.5],  # FAQ 30 expected: rank 2
            [0.3, 0.2, 0.1],  # FAQ 20 expected: rank 2, but below threshold
            [0.1, 0.2, 0.25],  # out of scope, below threshold -> fallback, right
            [0.7, 0.1, 0.1],  # out of scope, answered -> wrong
        ]
    )
    figures = metrics(scores, [10, 30, 20, None, None], semantic_weight=1.0, threshold=0.5)
    assert figures["n"] == 5 and figures["n_in_scope"] == 3 and figures["n_out_of_scope"] == 2
    assert figures["accuracy_at_1"] == pytest.approx(1 / 3)
    assert figures["accuracy_at_3"] == pytest.approx(1.0)
    assert figures["mrr"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert figures["oos_recall"] == pytest.approx(0.5)
    assert figures["oos_precision"] == pytest.approx(0.5)  # fallbacks: rows 3 and 4
    assert figures["overall_accuracy"] == pytest.approx(2 / 5)


def test_best_threshold_separates_answers_from_out_of_scope():
    fused = np.array([[0.9, 0.1], [0.8, 0.1], [0.3, 0.2], [0.2, 0.1]], dtype=np.float32)
    expected_cols = np.array([0, 0, -1, -1])
    threshold, accuracy = best_threshold(fused, expected_cols)
    assert accuracy == 1.0
    assert 0.3 < threshold < 0.8


def test_calibration_picks_the_signal_that_separates():
    # lexical ranks correctly, semantic ranks wrongly: calibration must lean lexical
    semantic = [[0.1, 0.9, 0.0], [0.9, 0.1, 0.0], [0.2, 0.1, 0.1]]
    lexical = [[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.1, 0.1, 0.1]]
    calibration = calibrate(matrix(semantic, lexical), [10, 20, None])
    assert calibration.semantic_weight < 0.5
    assert calibration.overall_accuracy == 1.0


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
    in_sample = calibrate(scores, expected)
    assert in_sample.overall_accuracy == 1.0
    assert in_sample.threshold == pytest.approx(0.75)
    # 5 folds of 2 rows; every training part keeps rows at 0.1 and 0.9. The fold holding the
    # lone row calibrates 0.5 and answers it (wrong); every other fold calibrates 0.75 and
    # gets its rows right, whichever they are: 9 of 10.
    assert cross_validated_accuracy(scores, expected) == pytest.approx(0.9)
    assert cross_validated_accuracy(scores, expected, seed=7) == pytest.approx(0.9)


def test_cross_validated_accuracy_on_a_hand_computed_case():
    # The rows at 0.8 expect FAQ 20 but have FAQ 10 on top: wrong at any threshold, answered
    # or not. Every fold's training part keeps rows at 0.2 and 0.9, so its threshold lies
    # between 0.2 and 0.9 whichever rows it holds out: 0.9 rows answered and right, 0.2 rows
    # sent to the fallback and right. 6 of 8 right in and out of sample.
    scores = matrix(
        [[0.9, 0.1, 0.0]] * 3 + [[0.8, 0.3, 0.0]] * 2 + [[0.2, 0.1, 0.0]] * 3,
    )
    expected: list[int | None] = [10] * 3 + [20] * 2 + [None] * 3
    assert cross_validated_accuracy(scores, expected, folds=4) == pytest.approx(6 / 8)
    assert calibrate(scores, expected).overall_accuracy == pytest.approx(6 / 8)
    assert np.isnan(cross_validated_accuracy(scores, expected, folds=5))  # under 2 rows a fold


def record_folds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list, list]]:
    """Spy on calibrate and metrics: each fold's (training rows, held-out rows).

    Each row expects its own FAQ, so the expected ids name the rows a call was given.
    """
    folds: list[tuple[list, list]] = []
    real_calibrate = evaluation.calibrate
    real_metrics = evaluation.metrics

    def spy_calibrate(scores, expected, *args):  # noqa: ANN001, ANN202
        folds.append((list(expected), []))
        return real_calibrate(scores, expected, *args)

    def spy_metrics(scores, expected, *args):  # noqa: ANN001, ANN202
        folds[-1][1].extend(expected)
        return real_metrics(scores, expected, *args)

    monkeypatch.setattr(evaluation, "calibrate", spy_calibrate)
    monkeypatch.setattr(evaluation, "metrics", spy_metrics)
    return folds


def one_faq_per_row(n: int) -> tuple[ScoreMatrix, list[int | None]]:
    rng = np.random.default_rng(2)
    faq_ids = np.arange(100, 100 + n)
    semantic = rng.random((n, n))
    return ScoreMatrix(faq_ids, semantic, rng.random((n, n))), [int(i) for i in faq_ids]


def test_cross_validation_folds_hold_out_every_row_exactly_once(monkeypatch):
    scores, expected = one_faq_per_row(23)
    folds = record_folds(monkeypatch)
    cross_validated_accuracy(scores, expected, folds=5)
    assert len(folds) == 5
    held_out = [row for _, held in folds for row in held]
    assert sorted(held_out) == expected  # every row once, none twice
    assert {len(held) for _, held in folds} == {4, 5}  # 23 rows: as even as it gets
    for train, held in folds:
        assert sorted(train + held) == expected  # calibrated on exactly the other rows


def test_cross_validation_is_deterministic_for_a_seed(monkeypatch):
    scores, expected = one_faq_per_row(20)
    folds = record_folds(monkeypatch)
    first = cross_validated_accuracy(scores, expected, seed=3)
    again = cross_validated_accuracy(scores, expected, seed=3)
    other = cross_validated_accuracy(scores, expected, seed=4)
    assert first == again
    assert folds[:5] == folds[5:10]  # the same rows in the same folds
    assert folds[10:] != folds[:5]  # and the seed does choose them
    assert np.isfinite(other)
