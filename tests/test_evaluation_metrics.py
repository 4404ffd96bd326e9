from __future__ import annotations

import numpy as np
import pytest

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


def test_cross_validation_never_beats_in_sample_calibration():
    rng = np.random.default_rng(1)
    semantic = rng.random((40, 3)).astype(np.float32)
    expected = [int(FAQS[i % 3]) if i % 4 else None for i in range(40)]
    scores = matrix(semantic, rng.random((40, 3)).astype(np.float32))
    in_sample = calibrate(scores, expected).overall_accuracy
    assert cross_validated_accuracy(scores, expected) <= in_sample
