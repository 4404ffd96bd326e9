"""A hand-computed evaluation case shared by the analysis, margin and report tests."""

from __future__ import annotations

import numpy as np

from training.evaluation import ScoreMatrix

FAQS = np.array([10, 20, 30])


def matrix(semantic: list[list[float]], faq_ids: np.ndarray = FAQS) -> ScoreMatrix:
    """Semantic weight 1.0 makes the fused score the semantic one; lexical is noise."""
    semantic_array = np.array(semantic, dtype=np.float64)
    return ScoreMatrix(faq_ids, semantic_array, np.zeros_like(semantic_array))


# Threshold 0.5. Top-1 and outcome per row in the comments.
CASE = matrix(
    [
        [0.9, 0.1, 0.0],  # 10 expected, 10 answered (0.9): right
        [0.8, 0.3, 0.1],  # 10 expected, 10 answered (0.8): right
        [0.6, 0.2, 0.1],  # 20 expected, 10 answered (0.6): wrong
        [0.1, 0.7, 0.2],  # 20 expected, 20 answered (0.7): right
        [0.1, 0.2, 0.4],  # 30 expected, 30 on top but 0.4 < 0.5: fallback
        [0.55, 0.1, 0.2],  # out of scope, 10 answered (0.55): wrong
        [0.1, 0.3, 0.2],  # out of scope, fallback (0.3): right
        [0.2, 0.65, 0.1],  # 30 expected, 20 answered (0.65): wrong
        [0.7, 0.5, 0.0],  # 20 expected, 10 answered (0.7): wrong
    ]
)
EXPECTED: list[int | None] = [10, 10, 20, 20, 30, None, None, 30, 20]
NAMES = {10: "What is FinBuddy?", 20: "Reset | password?", 30: "Delete my account"}
