"""Metrics of a ranked FAQ answer list, and calibration of the serving parameters.

The serving parameters are the fusion weight, the threshold, the reject margin and the
ambiguity margin. A message gets the fallback when its best FAQ scores below the threshold
(the threshold rule) or when its nearest out-of-scope example beats the best FAQ by the reject
margin (the reject class). They are chosen to minimise the mean cost of what the bot does: a
wrong answer (an in-scope message answered with the wrong FAQ, or an out-of-scope message
answered at all) costs `wrong_cost` fallbacks, an in-scope message sent to the fallback costs
one, a right answer or a right fallback nothing.

Works on score matrices (one row per message, one column per FAQ, plus the best out-of-scope
example's score), so a weight sweep costs one encoding pass; nothing here knows about Flask,
SQL, the index or matplotlib (web workers import it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHT_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))
DEFAULT_WRONG_ANSWER_COST = 3.0
CV_FOLDS = 5
CV_SEED = 0
HEADLINE_METRICS = (
    "accuracy_at_1",
    "accuracy_at_3",
    "mrr",
    "oos_precision",
    "oos_recall",
    "overall_accuracy",
    "threshold",
)
# The figures that also have a cross-validated variant (`<name>_cv`).
CV_METRICS = (*(key for key in HEADLINE_METRICS if key != "threshold"), "cost")
THRESHOLD_RULE = "threshold"
REJECT_RULE = "reject_class"
FALLBACK_RULES = (THRESHOLD_RULE, REJECT_RULE)
# Utility of one answered in-scope message, by how the bot reacts (see calibrate_margin).
UTILITY_CONFIDENT_RIGHT = 1.0
UTILITY_CONFIDENT_WRONG = 0.0
UTILITY_ASK_FOUND = 0.8  # "did you mean" lists the right FAQ: one extra click
UTILITY_ASK_MISSED = 0.2  # "did you mean" without it: the user rephrases
MAX_MARGIN = 0.2
# The reject class wins only when an out-of-scope example scores at least this much above the
# best FAQ. Negative margins (refusing when an FAQ is ahead) fitted the calibration rows better
# but cross-validated worse on every model measured (README "Out of scope").
MIN_REJECT_MARGIN = 0.0
_TIE = 1e-9  # costs closer than this are equal (sums of float weights)


@dataclass(frozen=True)
class ScoreMatrix:
    """Per-FAQ scores of a batch of messages, and of their nearest out-of-scope example.

    `reject_semantic` and `reject_lexical` are the best out-of-scope example's scores per
    message, None when the matcher has no out-of-scope examples (no reject class).
    """

    faq_ids: np.ndarray  # (n_faqs,)
    semantic: np.ndarray  # (n_messages, n_faqs)
    lexical: np.ndarray  # (n_messages, n_faqs)
    reject_semantic: np.ndarray | None = None  # (n_messages,)
    reject_lexical: np.ndarray | None = None  # (n_messages,)

    @property
    def has_reject_class(self) -> bool:
        return self.reject_semantic is not None

    def fused(self, semantic_weight: float) -> np.ndarray:
        return semantic_weight * self.semantic + (1.0 - semantic_weight) * self.lexical

    def reject_fused(self, semantic_weight: float) -> np.ndarray:
        """The reject class's fused score, -inf for every message without one."""
        if self.reject_semantic is None or self.reject_lexical is None:
            return np.full(len(self.semantic), -np.inf)
        return semantic_weight * self.reject_semantic + (1.0 - semantic_weight) * (
            self.reject_lexical
        )

    def subset(self, rows: np.ndarray) -> ScoreMatrix:
        return ScoreMatrix(
            self.faq_ids,
            self.semantic[rows],
            self.lexical[rows],
            None if self.reject_semantic is None else self.reject_semantic[rows],
            None if self.reject_lexical is None else self.reject_lexical[rows],
        )

    def without_reject_class(self) -> ScoreMatrix:
        return ScoreMatrix(self.faq_ids, self.semantic, self.lexical)

    @classmethod
    def stack(cls, parts: list[ScoreMatrix]) -> ScoreMatrix:
        """The rows of several matrices over the same FAQs, in order."""
        first = parts[0]
        if any(not np.array_equal(p.faq_ids, first.faq_ids) for p in parts):
            raise ValueError("score matrices over different FAQs cannot be stacked")
        if len({p.has_reject_class for p in parts}) > 1:
            raise ValueError("either every part has a reject class or none has")

        def joined(name: str) -> np.ndarray | None:
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays)

        return cls(
            first.faq_ids,
            np.concatenate([p.semantic for p in parts]),
            np.concatenate([p.lexical for p in parts]),
            joined("reject_semantic"),
            joined("reject_lexical"),
        )


@dataclass(frozen=True)
class Calibration:
    """Serving parameters and the mean cost they reach on the rows they were chosen on."""

    semantic_weight: float
    threshold: float
    reject_margin: float | None = None  # None: the reject class never overrides an answer
    cost: float = 0.0


def expected_columns(faq_ids: np.ndarray, expected: list[int | None]) -> np.ndarray:
    """Column of each message's expected FAQ; -1 for out-of-scope (or an FAQ not indexed)."""
    column_of = {int(faq_id): col for col, faq_id in enumerate(faq_ids)}
    return np.array([column_of.get(e, -1) if e is not None else -1 for e in expected], dtype=int)


def fallback_rules(
    top_scores: np.ndarray,
    reject_scores: np.ndarray,
    threshold: float,
    reject_margin: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per message: sent to the fallback by the threshold, and by the reject class.

    The threshold goes first: a message below it counts for the threshold only. The reject
    class overrides an answer when the nearest out-of-scope example scores at least
    `reject_margin` above the best FAQ (the margin may be negative: then it also wins when it
    is slightly behind). Compared in float64, as the served reply does with Python floats.
    """
    top = np.asarray(top_scores, dtype=np.float64)
    below = top < threshold
    if reject_margin is None:
        return below, np.zeros_like(below)
    lead = np.asarray(reject_scores, dtype=np.float64) - top
    return below, ~below & (lead >= reject_margin)


def message_costs(
    in_scope: np.ndarray, right_top: np.ndarray, fallback: np.ndarray, wrong_cost: float
) -> np.ndarray:
    """Cost of each message: wrong answer `wrong_cost`, in-scope fallback 1, right 0."""
    answered_cost = np.where(in_scope & right_top, 0.0, wrong_cost)
    fallback_cost = np.where(in_scope, 1.0, 0.0)
    return np.where(fallback, fallback_cost, answered_cost)


class Ranking:
    """Ranked answers of every message at one fusion weight, shared by metrics and reports."""

    def __init__(self, scores: ScoreMatrix, expected: list[int | None], semantic_weight: float):
        if len(expected) != len(scores.semantic):
            raise ValueError(f"{len(expected)} expected FAQs for {len(scores.semantic)} messages")
        if not len(expected):
            raise ValueError("no messages to report on")
        self.faq_ids = np.asarray(scores.faq_ids)
        # native dtype (float32 from the matcher), so scores equal the served ones
        self.fused = np.asarray(scores.fused(semantic_weight))
        self.reject_scores = np.asarray(scores.reject_fused(semantic_weight))
        self.has_reject_class = scores.has_reject_class
        self.expected_cols = expected_columns(self.faq_ids, expected)
        self.in_scope = self.expected_cols >= 0
        # stable sort so ties rank the same way everywhere
        self.order = np.argsort(-self.fused, axis=1, kind="stable")
        rows = np.arange(len(self.fused))
        self.top_cols = self.order[:, 0]
        self.top_scores = self.fused[rows, self.top_cols]
        self.right_top = self.in_scope & (self.top_cols == self.expected_cols)
        # how far the nearest out-of-scope example leads the best FAQ (-inf without one)
        self.reject_lead = self.reject_scores.astype(np.float64) - self.top_scores.astype(
            np.float64
        )
        if self.fused.shape[1] > 1:
            second = self.fused[rows, self.order[:, 1]]
            self.gaps = self.top_scores.astype(np.float64) - second.astype(np.float64)
        else:
            self.gaps = np.full(len(self.fused), np.inf)  # a lone FAQ is never ambiguous
        self.in_top3 = (self.order[:, :3] == self.expected_cols[:, None]).any(axis=1)

    def rules(self, threshold: float, reject_margin: float | None) -> tuple[np.ndarray, ...]:
        """(sent to the fallback by the threshold, by the reject class), as `fallback_rules`."""
        return fallback_rules(self.top_scores, self.reject_scores, threshold, reject_margin)

    def answered(self, threshold: float, reject_margin: float | None = None) -> np.ndarray:
        below, beaten = self.rules(threshold, reject_margin)
        return ~(below | beaten)

    def faq_id(self, col: int) -> int:
        return int(self.faq_ids[col])


@dataclass(frozen=True)
class Outcomes:
    """What the bot did with each message: its ranking and which rule (if any) said no."""

    in_scope: np.ndarray
    right_top: np.ndarray
    in_top3: np.ndarray
    reciprocal_rank: np.ndarray
    by_threshold: np.ndarray
    by_reject: np.ndarray

    @property
    def fallback(self) -> np.ndarray:
        return self.by_threshold | self.by_reject

    @classmethod
    def of(cls, ranking: Ranking, threshold: float, reject_margin: float | None) -> Outcomes:
        found = ranking.order == ranking.expected_cols[:, None]
        ranks = np.argmax(found, axis=1) + 1
        below, beaten = ranking.rules(threshold, reject_margin)
        return cls(
            ranking.in_scope,
            ranking.right_top,
            ranking.in_top3,
            np.where(found.any(axis=1), 1.0 / ranks, 0.0),
            below,
            beaten,
        )

    def take(self, rows: np.ndarray) -> Outcomes:
        return Outcomes(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))

    @classmethod
    def concat(cls, parts: list[Outcomes], rows: list[np.ndarray], n: int) -> Outcomes:
        """Reassemble per-fold outcomes into row order; `rows[i]` are part i's row numbers."""
        positions = np.concatenate(rows)
        arrays = {}
        for name in cls.__dataclass_fields__:
            joined = np.concatenate([getattr(p, name) for p in parts])
            ordered = np.empty(n, dtype=joined.dtype)
            ordered[positions] = joined
            arrays[name] = ordered
        return cls(**arrays)


def summarise(outcomes: Outcomes, wrong_cost: float) -> dict[str, Any]:
    """The DESIGN.md figures (less the threshold), the mean cost and who rejected what."""
    in_scope = outcomes.in_scope
    out_of_scope = ~in_scope
    fallback = outcomes.fallback
    right = np.where(in_scope, ~fallback & outcomes.right_top, fallback)

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if values.size else 0.0

    n_fallback = int(fallback.sum())
    costs = message_costs(in_scope, outcomes.right_top, fallback, wrong_cost)
    return {
        "n": int(len(in_scope)),
        "n_in_scope": int(in_scope.sum()),
        "n_out_of_scope": int(out_of_scope.sum()),
        "accuracy_at_1": mean(outcomes.right_top[in_scope]),
        "accuracy_at_3": mean(outcomes.in_top3[in_scope]),
        "mrr": mean(outcomes.reciprocal_rank[in_scope]),
        "oos_precision": float((fallback & out_of_scope).sum() / n_fallback)
        if n_fallback
        else 0.0,
        "oos_recall": mean(fallback[out_of_scope]),
        "overall_accuracy": mean(right),
        "cost": mean(costs),
        "wrong_answer_cost": float(wrong_cost),
        "rejected_by": {
            rule: {
                "in_scope": int((mask & in_scope).sum()),
                "out_of_scope": int((mask & out_of_scope).sum()),
            }
            for rule, mask in (
                (THRESHOLD_RULE, outcomes.by_threshold),
                (REJECT_RULE, outcomes.by_reject),
            )
        },
    }


def metrics(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    reject_margin: float | None = None,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
) -> dict[str, Any]:
    """The DESIGN.md evaluation figures for one weight, threshold and reject margin."""
    ranking = Ranking(scores, expected, semantic_weight)
    figures = summarise(Outcomes.of(ranking, threshold, reject_margin), wrong_cost)
    figures["threshold"] = float(threshold)
    figures["reject_margin"] = reject_margin
    return figures


def _cut_points(values: np.ndarray) -> np.ndarray:
    """Below all, the midpoints between distinct values, above all (ascending)."""
    unique = np.unique(values[np.isfinite(values)])
    if not unique.size:
        return np.array([0.0])
    return np.concatenate(
        [[unique[0] - 1e-3], (unique[:-1] + unique[1:]) / 2, [unique[-1] + 1e-3]]
    )


def _middle(indices: np.ndarray) -> int:
    return int(indices[len(indices) // 2])


def best_rule(
    ranking: Ranking,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
    sample_weight: np.ndarray | None = None,
    use_reject_class: bool = True,
) -> tuple[float, float | None, float]:
    """(threshold, reject margin, mean cost) with the lowest weighted mean cost at this weight.

    Candidates: every cut between observed top scores for the threshold; MIN_REJECT_MARGIN,
    every cut between observed reject leads above it, and "never" for the margin. Ties go to
    the middle of the tied margins, then to the middle of that margin's tied thresholds, away
    from the edges where one message decides. Cost of every pair in one pass: with rows sorted
    by top score, the rows a threshold answers are a prefix, so a cumulative sum gives every
    threshold at once.
    """
    n = len(ranking.top_scores)
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    top = ranking.top_scores.astype(np.float64)
    fallback_cost = np.where(ranking.in_scope, 1.0, 0.0)
    answered_cost = np.where(ranking.right_top, 0.0, wrong_cost)
    base = float((fallback_cost * weight).sum())
    delta = (answered_cost - fallback_cost) * weight

    thresholds = _cut_points(top)
    margins = [None]
    if use_reject_class and ranking.has_reject_class:
        cuts = _cut_points(ranking.reject_lead)
        margins = [MIN_REJECT_MARGIN, *cuts[cuts > MIN_REJECT_MARGIN], None]
    order = np.argsort(-top, kind="stable")
    answered_count = n - np.searchsorted(np.sort(top), thresholds, side="left")
    lead = ranking.reject_lead[order]
    keep = np.array([np.ones(n, bool) if m is None else lead < m for m in margins])
    prefix = np.concatenate(
        [np.zeros((len(margins), 1)), np.cumsum(keep * delta[order], axis=1)], axis=1
    )
    costs = (base + prefix[:, answered_count]) / weight.sum()
    best = costs.min()
    tied_margins = np.flatnonzero((costs <= best + _TIE).any(axis=1))
    margin_row = _middle(tied_margins)
    threshold_col = _middle(np.flatnonzero(costs[margin_row] <= best + _TIE))
    margin = margins[margin_row]
    return (
        float(thresholds[threshold_col]),
        None if margin is None else float(margin),
        float(costs[margin_row, threshold_col]),
    )


def calibrate(
    scores: ScoreMatrix,
    expected: list[int | None],
    weights: tuple[float, ...] = WEIGHT_GRID,
    *,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
    sample_weight: np.ndarray | None = None,
    use_reject_class: bool = True,
) -> Calibration:
    """Fusion weight, threshold and reject margin with the lowest mean cost.

    Ties prefer the higher accuracy@1, then the weight closest to an even mix.
    """
    best: tuple[tuple[float, float, float], Calibration] | None = None
    for weight in weights:
        ranking = Ranking(scores, expected, weight)
        threshold, margin, cost = best_rule(ranking, wrong_cost, sample_weight, use_reject_class)
        in_scope = ranking.in_scope
        top1 = float(ranking.right_top[in_scope].mean()) if in_scope.any() else 0.0
        key = (-round(cost / _TIE) * _TIE, top1, -abs(weight - 0.5))
        if best is None or key > best[0]:
            best = (key, Calibration(float(weight), threshold, margin, cost))
    assert best is not None
    return best[1]


def fold_ids(n: int, folds: int = CV_FOLDS, seed: int = CV_SEED) -> np.ndarray:
    """Fold of each of n rows: a seeded shuffle dealt round-robin, so folds differ by <= 1."""
    order = np.random.default_rng(seed).permutation(n)
    ids = np.empty(n, dtype=int)
    ids[order] = np.arange(n) % folds
    return ids


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold figures: every row judged with parameters calibrated without its fold."""

    figures: dict[str, Any]  # on the measured rows (the evaluation file)
    extra_oos_recall: float | None  # on the other rows (the held-out out-of-scope corpus)
    calibrations: list[Calibration]


def cross_validate(
    scores: ScoreMatrix,
    expected: list[int | None],
    folds: np.ndarray,
    *,
    measured: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    weights: tuple[float, ...] = WEIGHT_GRID,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
    use_reject_class: bool = True,
) -> CrossValidation:
    """Calibrate on every fold but one, judge that one with it; figures over all rows.

    Calibrating and reporting on the same rows flatters the parameters; this says by how
    much. `measured` marks the rows the figures describe (the others only help calibrate and
    get their own out-of-scope recall).
    """
    weight = np.ones(len(expected)) if sample_weight is None else np.asarray(sample_weight, float)
    expected_array = np.array(expected, dtype=object)
    calibrations = []
    for fold in np.unique(folds):
        train = np.flatnonzero(folds != fold)
        calibrations.append(
            calibrate(
                scores.subset(train),
                list(expected_array[train]),
                weights,
                wrong_cost=wrong_cost,
                sample_weight=weight[train],
                use_reject_class=use_reject_class,
            )
        )
    return judge_out_of_fold(
        scores, expected, folds, calibrations, measured=measured, wrong_cost=wrong_cost
    )


def judge_out_of_fold(
    scores: ScoreMatrix,
    expected: list[int | None],
    folds: np.ndarray,
    calibrations: list[Calibration],
    *,
    measured: np.ndarray | None = None,
    wrong_cost: float = DEFAULT_WRONG_ANSWER_COST,
) -> CrossValidation:
    """Judge each fold's rows with its calibration (the i-th, for the i-th fold in order).

    `cross_validate` passes the calibrations it fitted without each fold. The parity check
    passes calibrations fitted on another encoder's scores, to judge an int8 copy the way it
    will serve: with parameters fitted on float32 scores of other messages.
    """
    n = len(expected)
    measured = np.ones(n, bool) if measured is None else np.asarray(measured, bool)
    expected_array = np.array(expected, dtype=object)
    parts, rows = [], []
    for fold, calibration in zip(np.unique(folds), calibrations, strict=True):
        held = np.flatnonzero(folds == fold)
        ranking = Ranking(
            scores.subset(held), list(expected_array[held]), calibration.semantic_weight
        )
        parts.append(Outcomes.of(ranking, calibration.threshold, calibration.reject_margin))
        rows.append(held)
    outcomes = Outcomes.concat(parts, rows, n)
    extra = ~measured
    extra_recall = (
        float(outcomes.fallback[extra & ~outcomes.in_scope].mean())
        if (extra & ~outcomes.in_scope).any()
        else None
    )
    return CrossValidation(
        summarise(outcomes.take(np.flatnonzero(measured)), wrong_cost),
        extra_recall,
        list(calibrations),
    )


def _margin_utility(ranking: Ranking, rows: np.ndarray, margin: float) -> float:
    ambiguous = ranking.gaps[rows] < margin
    right = ranking.right_top[rows]
    found = ranking.in_top3[rows]
    utility = np.where(
        ambiguous,
        np.where(found, UTILITY_ASK_FOUND, UTILITY_ASK_MISSED),
        np.where(right, UTILITY_CONFIDENT_RIGHT, UTILITY_CONFIDENT_WRONG),
    )
    return float(utility.mean())


def _margin_candidates(gaps: np.ndarray, max_margin: float) -> np.ndarray:
    unique = np.unique(gaps[np.isfinite(gaps)])
    midpoints = (unique[:-1] + unique[1:]) / 2
    return np.unique(np.concatenate([[0.0], np.clip(midpoints, 0.0, max_margin)]))


def calibrate_margin(
    scores: ScoreMatrix,
    expected: list[int | None],
    semantic_weight: float,
    threshold: float,
    max_margin: float = MAX_MARGIN,
    reject_margin: float | None = None,
) -> float:
    """Ambiguity margin: answer only when top1 - top2 >= margin, else ask "did you mean" (top 3).

    A close second place is where wrong answers hide; asking costs the user one click, a wrong
    answer costs the whole question. Rule: over the in-scope messages that get an answer at
    `threshold` and `reject_margin`, score each one confident and right 1.0, confident and
    wrong 0.0, ambiguous with the right FAQ in the top 3 0.8, ambiguous without it 0.2;
    candidates are 0 and the midpoints between consecutive observed gaps, clipped to
    `max_margin`; return the candidate with the highest mean utility, the smallest one on ties
    (0 when nothing is answered).
    """
    ranking = Ranking(scores, expected, semantic_weight)
    return margin_calibration(ranking, threshold, max_margin, reject_margin)[0]


def margin_calibration(
    ranking: Ranking, threshold: float, max_margin: float, reject_margin: float | None = None
) -> tuple[float, float, float, np.ndarray]:
    """`calibrate_margin` with the figures the report shows.

    Returns (margin, utility at it, utility at 0, the rows it is judged on).
    """
    rows = np.flatnonzero(ranking.answered(threshold, reject_margin) & ranking.in_scope)
    if not rows.size:
        return 0.0, 0.0, 0.0, rows
    candidates = _margin_candidates(ranking.gaps[rows], max_margin)
    utilities = np.array([_margin_utility(ranking, rows, m) for m in candidates])
    best = int(np.flatnonzero(utilities == utilities.max())[0])  # candidates are ascending
    return float(candidates[best]), float(utilities[best]), float(utilities[0]), rows
