"""The int8 first pass of large catalogs: its error bound holds, and answers stay exact."""

from __future__ import annotations

import random

import numpy as np

from bot.coarse_scores import CoarseScorer
from bot.matcher import Matcher
from bot.matcher import Phrasing
from tests.test_matcher import BagOfLetters


def unit_rows(rng: np.random.Generator, rows: int, dims: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, dims)).astype(np.float32)
    vectors[:, 7] *= 12  # an outlier channel, as sentence encoders have
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_int8_scores_stay_within_the_bound_they_report():
    rng = np.random.default_rng(0)
    stored = unit_rows(rng, 3000, 384)
    scorer = CoarseScorer(stored)
    approximate = np.empty(len(stored), dtype=np.float32)
    worst_error, largest_bound = 0.0, 0.0
    for message in np.concatenate([unit_rows(rng, 40, 384), stored[:10] + 0.05]):
        message = (message / np.linalg.norm(message)).astype(np.float32)
        bound = scorer.scores(message, approximate)
        error = float(np.abs(approximate - stored @ message).max())
        assert error <= bound
        worst_error, largest_bound = max(worst_error, error), max(largest_bound, bound)
    assert worst_error > 1e-4  # the scores really are approximate...
    assert largest_bound < 0.15  # ...and, even with a 12x outlier channel, tight enough to prune


def catalog(seed: int, n_faqs: int) -> tuple[list[Phrasing], list[str]]:
    """Made-up FAQs of 1-4 phrasings from a small vocabulary: many near ties."""
    rng = random.Random(seed)
    words = "saldo transfer gagal akun login kartu limit bunga cicilan tagihan dompet kode".split()
    phrasings = [
        Phrasing(faq_id, " ".join(rng.choices(words, k=rng.randint(2, 6))))
        for faq_id in range(1, n_faqs + 1)
        for _ in range(rng.randint(1, 4))
    ]
    examples = [" ".join(rng.choices(words, k=4)) + " dana" for _ in range(40)]
    return phrasings, examples


def test_a_served_matcher_ranks_exactly_as_the_float32_one():
    phrasings, examples = catalog(seed=1, n_faqs=400)
    encoder = BagOfLetters()
    exact = Matcher.build(encoder, phrasings, 0.8, examples)
    served = Matcher.build(encoder, phrasings, 0.8, examples)
    served.prepare_serving(min_entries=0)
    assert served._coarse is not None and exact._coarse is None
    kept_sizes: list[int] = []
    rescore = served._rescore

    def counted_rescore(*args, **kwargs) -> np.ndarray:  # noqa: ANN002, ANN003
        kept = rescore(*args, **kwargs)
        kept_sizes.append(len(kept))
        return kept

    served._rescore = counted_rescore  # type: ignore[method-assign]
    rng = random.Random(2)
    messages = [p.text + " ya" for p in rng.sample(phrasings, 60)] + examples[:5]
    pairs = zip(served.assess_many(messages, k=6), exact.assess_many(messages, k=6), strict=True)
    for got, expected in pairs:
        assert [c.faq_id for c in got.candidates] == [c.faq_id for c in expected.candidates]
        for mine, theirs in zip(got.candidates, expected.candidates, strict=True):
            assert abs(mine.score - theirs.score) < 1e-6
            assert abs(mine.semantic - theirs.semantic) < 1e-6
            assert mine.lexical == theirs.lexical
        # the same products, in float32 rounding (BLAS blocks a slice of the matrix its own way)
        assert got.out_of_scope.example == expected.out_of_scope.example
        assert abs(got.out_of_scope.score - expected.out_of_scope.score) < 1e-6
    # the int8 pass really left most FAQs out of the exact pass
    assert len(kept_sizes) == len(messages) and max(kept_sizes) < len(exact.faq_ids) / 4


def test_only_a_large_catalog_is_scored_in_int8_first():
    phrasings, examples = catalog(seed=3, n_faqs=30)
    matcher = Matcher.build(BagOfLetters(), phrasings, 0.8, examples)
    matcher.prepare_serving()
    assert matcher._coarse is None  # under COARSE_MIN_ENTRIES: one float32 product is cheaper
    matcher.prepare_serving(min_entries=len(phrasings))
    assert matcher._coarse is not None and len(matcher._coarse) == len(phrasings)
