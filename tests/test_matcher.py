from __future__ import annotations

import numpy as np
import pytest

from bot.catalog import indexed_phrasings
from bot.db import new_session
from bot.indexing import encoder_for
from bot.matcher import Matcher
from bot.matcher import Phrasing
from bot.models import Faq


class BagOfLetters:
    """A deterministic toy encoder: letter counts, unit length (no model needed)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                if "a" <= char <= "z":
                    vectors[row, ord(char) - 97] += 1
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def encode_messages(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


PHRASINGS = [
    Phrasing(1, "Apa itu mode mewah?"),
    Phrasing(1, "luxury mode itu apa"),
    Phrasing(2, "Bagaimana cara login di perangkat baru?"),
    Phrasing(3, "zzz qqq xxx"),  # reachable only through this phrasing
]


def test_score_per_faq_is_the_best_over_its_phrasings():
    encoder = BagOfLetters()
    matcher = Matcher.build(encoder, PHRASINGS, semantic_weight=1.0)
    query = "mode luxury tuh apaan"  # a paraphrase, not an indexed text
    scores = matcher.score_matrix([query])
    column = list(matcher.faq_ids).index(1)
    own = [p.text for p in PHRASINGS if p.faq_id == 1]
    cosines = encoder.encode(own) @ encoder.encode([query])[0]
    assert scores.semantic[0, column] == pytest.approx(float(cosines.max()))
    assert cosines.min() < cosines.max()  # the two phrasings really score differently
    lexical = matcher.lexical_index.scores([query])[0][: len(own)]
    assert scores.lexical[0, column] == pytest.approx(float(lexical.max()))
    assert matcher.rank(query, k=1)[0].faq_id == 1


def test_rank_many_ranks_each_message_as_rank_does():
    matcher = Matcher.build(BagOfLetters(), PHRASINGS, semantic_weight=0.5)
    queries = ["mode mewahnya apa", "login hp baru gmn", "zzz qq"]
    assert matcher.rank_many(queries, k=2) == [matcher.rank(q, k=2) for q in queries]
    assert [ranked[0].faq_id for ranked in matcher.rank_many(queries)] == [1, 2, 3]
    assert matcher.rank_many([]) == []


def test_similar_faqs_lists_only_faqs_above_the_similarity_asked_for():
    encoder = BagOfLetters()
    matcher = Matcher.build(encoder, PHRASINGS)
    query = "Apa itu mode mewah ya?"
    found = matcher.similar_faqs(query, 0.9)
    assert [faq_id for faq_id, _ in found] == [1]
    expected = float((encoder.encode(["Apa itu mode mewah?"]) @ encoder.encode([query]).T)[0, 0])
    assert found[0][1] == pytest.approx(expected)
    everything = matcher.similar_faqs(query, -1.0)
    assert [s for _, s in everything] == sorted((s for _, s in everything), reverse=True)
    assert {faq_id for faq_id, _ in everything} == {1, 2, 3}


def test_an_faq_reachable_only_through_a_paraphrase_is_found():
    matcher = Matcher.build(BagOfLetters(), PHRASINGS, semantic_weight=0.5)
    ranked = matcher.rank("zzz qqq", k=3)
    assert ranked[0].faq_id == 3
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)


def test_fusion_weight_changes_the_ranking():
    phrasings = [Phrasing(1, "abc"), Phrasing(2, "cba xyz")]
    matcher = Matcher.build(BagOfLetters(), phrasings, semantic_weight=1.0)
    # same letters as FAQ 1 in another order: semantic ties, lexical prefers FAQ 2's n-grams
    query = "cba"
    semantic_only = matcher.score_matrix([query]).semantic[0]
    lexical_only = matcher.score_matrix([query]).lexical[0]
    assert semantic_only[0] > semantic_only[1]
    assert lexical_only[1] > lexical_only[0]
    matcher.semantic_weight = 0.0
    assert matcher.rank(query, k=1)[0].faq_id == 2
    matcher.semantic_weight = 1.0
    assert matcher.rank(query, k=1)[0].faq_id == 1


def test_saved_index_reloads_and_goes_stale_when_phrasings_change(tmp_path):
    encoder = BagOfLetters()
    matcher = Matcher.build(encoder, PHRASINGS, semantic_weight=0.3)
    matcher.save(tmp_path / "index")
    loaded = Matcher.load(tmp_path / "index", encoder, PHRASINGS, 0.3)
    assert loaded is not None
    assert loaded.semantic_index.ntotal == len(PHRASINGS)
    query = "mode mewah"
    assert [c.faq_id for c in loaded.rank(query)] == [c.faq_id for c in matcher.rank(query)]
    changed = [*PHRASINGS, Phrasing(2, "ganti hp login lagi")]
    assert Matcher.load(tmp_path / "index", encoder, changed, 0.3) is None


def test_a_damaged_index_is_rebuilt_not_served(tmp_path):
    encoder = BagOfLetters()
    Matcher.build(encoder, PHRASINGS).save(tmp_path / "index")
    (tmp_path / "index" / "semantic.faiss").write_bytes(b"garbage")
    assert Matcher.load(tmp_path / "index", encoder, PHRASINGS, 1.0) is None


def test_the_index_holds_alternates_and_approved_training_messages(app):
    with new_session(app) as session:
        phrasings = indexed_phrasings(session)
        texts_by_faq: dict[int, set[str]] = {}
        for phrasing in phrasings:
            texts_by_faq.setdefault(phrasing.faq_id, set()).add(phrasing.text)
        faq = session.query(Faq).filter_by(question="Apa itu FinBuddy?").one()
        assert faq.question in texts_by_faq[faq.id]
        assert {a.text for a in faq.alternates} <= texts_by_faq[faq.id]
        assert {p.text for p in faq.training_pairs} <= texts_by_faq[faq.id]
        pair = faq.training_pairs[0]
        pair.approved = False
        session.commit()
        assert Phrasing(faq.id, pair.text) not in indexed_phrasings(session)


def test_evaluation_messages_are_not_indexed(app):
    import csv

    from bot.config import SHIPPED_DATA

    with open(SHIPPED_DATA / "finbuddy_eval.csv", newline="") as handle:
        eval_texts = {row["paraphrase"] for row in csv.DictReader(handle)}
    with new_session(app) as session:
        indexed = {p.text for p in indexed_phrasings(session)}
    assert eval_texts.isdisjoint(indexed)


def test_real_faiss_index_over_the_tiny_bert(app, tiny_bert):
    with new_session(app) as session:
        phrasings = indexed_phrasings(session)
    matcher = Matcher.build(encoder_for(str(tiny_bert)), phrasings, semantic_weight=0.5)
    assert matcher.semantic_index.ntotal == len(phrasings)
    target = phrasings[5]
    typo = target.text.lower().replace("a", "", 1).rstrip("?") + " ya"  # not an indexed text
    assert typo not in {p.text for p in phrasings}
    assert matcher.rank(typo, k=1)[0].faq_id == target.faq_id
    vectors = matcher.embed([target.text, typo])
    assert vectors.shape == (2, matcher.semantic_index.d)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_top_columns_is_a_stable_sort_cut_short():
    import numpy as np

    from bot.matcher import top_columns

    rng = np.random.default_rng(7)
    for size in (1, 2, 3, 5, 40, 1000):
        values = rng.integers(0, 6, size).astype(np.float32)  # many ties
        for k in (1, 3, 10):
            expected = np.argsort(-values, kind="stable")[:k]
            assert top_columns(values, k).tolist() == expected.tolist(), (size, k)
