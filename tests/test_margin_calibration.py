"""The ambiguity margin: ask "did you mean" when the top two are close (utility by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from report_case import matrix

from training.evaluation import calibrate_margin


def test_margin_covers_a_close_wrong_answer_but_not_the_clear_right_ones():
    scores = matrix(
        [
            [0.9, 0.3, 0.1],  # right, gap 0.6
            [0.2, 0.8, 0.1],  # right, gap 0.6
            [0.1, 0.2, 0.9],  # right, gap 0.7
            [0.6, 0.5, 0.1],  # right, gap 0.1
            [0.5, 0.45, 0.1],  # 20 expected, 10 on top: wrong, gap 0.05
        ]
    )
    expected: list[int | None] = [10, 20, 30, 10, 20]
    # margin 0: 4/5 = 0.8; 0.075: (4 + 0.8) / 5 = 0.96; 0.2: (3 + 0.8 + 0.8) / 5 = 0.92
    margin = calibrate_margin(scores, expected, semantic_weight=1.0, threshold=0.0)
    assert margin == pytest.approx(0.075)
    assert 0.05 < margin < 0.1


def test_margin_is_zero_when_every_answer_is_clearly_right():
    scores = matrix([[0.9, 0.1, 0.0], [0.1, 0.8, 0.0], [0.0, 0.1, 0.95]])
    assert calibrate_margin(scores, [10, 20, 30], 1.0, 0.0) == 0.0


def test_margin_ties_go_to_the_smallest_and_ignore_unanswered_rows():
    faqs = np.array([10, 20, 30, 40])
    scores = matrix(
        [
            [0.7, 0.65, 0.1, 0.0],  # right, gap 0.05: asking costs 0.2
            [0.5, 0.4, 0.3, 0.2],  # 40 expected, not in top 3, gap 0.1: asking gains 0.2
            [0.9, 0.3, 0.1, 0.0],  # right, gap 0.6
            [0.3, 0.29, 0.0, 0.0],  # 20 expected, below the threshold: not judged
            [0.6, 0.59, 0.0, 0.0],  # out of scope: not judged
        ],
        faqs,
    )
    # margin 0: (1 + 0 + 1) / 3; margin 0.2: (0.8 + 0.2 + 1) / 3, equal: keep 0
    assert calibrate_margin(scores, [10, 40, 10, 20, None], 1.0, 0.35) == 0.0
