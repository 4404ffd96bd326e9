"""The reject class: out-of-scope examples indexed beside the FAQs, and the rule that uses them."""

from __future__ import annotations

import numpy as np
import pytest
from test_matcher import BagOfLetters

from bot.bootstrap import refresh_index
from bot.db import new_session
from bot.matcher import Matcher
from bot.matcher import Phrasing
from bot.models import OutOfScopeExample
from bot.serving import serving

PHRASINGS = [
    Phrasing(1, "cek saldo tabungan di aplikasi"),
    Phrasing(2, "cara login di hp baru"),
]
EXAMPLES = ["cek saldo bank mandiri", "cuaca besok hujan", "kurs dollar hari ini"]


class CountingEncoder(BagOfLetters):
    """Counts what it is asked to encode, to see which texts a rebuild re-encodes."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += texts
        return super().encode(texts)


def test_the_reject_score_is_the_best_out_of_scope_example_fused_like_a_faq():
    encoder = BagOfLetters()
    matcher = Matcher.build(encoder, PHRASINGS, 0.5, EXAMPLES)
    query = "cek saldo mandiri dong"
    scores = matcher.score_matrix([query])
    cosines = encoder.encode(EXAMPLES) @ encoder.encode([query])[0]
    lexical = matcher.reject_lexical_index.scores([query])[0]
    assert scores.reject_semantic[0] == pytest.approx(float(cosines.max()))
    assert scores.reject_lexical[0] == pytest.approx(float(lexical.max()))
    assessment = matcher.assess(query)
    assert assessment.out_of_scope.score == pytest.approx(
        0.5 * float(cosines.max()) + 0.5 * float(lexical.max())
    )
    assert assessment.out_of_scope.example == "cek saldo bank mandiri"
    assert [c.faq_id for c in assessment.candidates] == [1, 2]  # never ranked among FAQs
    assert matcher.rank(query) == assessment.candidates


def test_without_examples_there_is_no_reject_class():
    matcher = Matcher.build(BagOfLetters(), PHRASINGS)
    assert matcher.score_matrix(["cuaca"]).reject_semantic is None
    assert matcher.assess("cuaca").out_of_scope is None


def test_held_out_examples_are_scored_against_an_index_without_their_fold():
    encoder = BagOfLetters()
    matcher = Matcher.build(encoder, PHRASINGS, 0.5, EXAMPLES)
    held = matcher.held_out_scores(np.array([0, 1, 0]))
    # each example finds itself in the full index (cosine 1) but not when held out
    assert matcher.score_matrix(EXAMPLES).reject_semantic == pytest.approx([1.0] * 3)
    assert held.reject_semantic.max() < 0.99
    for row, fold in enumerate([0, 1, 0]):
        kept = [e for e, f in zip(EXAMPLES, [0, 1, 0], strict=True) if f != fold]
        without = Matcher.build(encoder, PHRASINGS, 0.5, kept).score_matrix([EXAMPLES[row]])
        assert held.reject_semantic[row] == pytest.approx(without.reject_semantic[0])
        assert held.reject_lexical[row] == pytest.approx(without.reject_lexical[0])
        assert held.lexical[row] == pytest.approx(without.lexical[0])
        assert held.semantic[row] == pytest.approx(without.semantic[0], abs=1e-6)


def test_a_rebuild_encodes_only_new_texts_and_scores_the_same():
    encoder = CountingEncoder()
    first = Matcher.build(encoder, PHRASINGS, 0.5, EXAMPLES)
    encoder.encoded.clear()
    grown = Matcher.build(
        encoder, PHRASINGS, 0.5, [*EXAMPLES, "jual pulsa"], reuse=first.vectors()
    )
    assert encoder.encoded == ["jual pulsa"]
    fresh = Matcher.build(BagOfLetters(), PHRASINGS, 0.5, [*EXAMPLES, "jual pulsa"])
    query = ["pulsa murah dmn"]
    assert grown.score_matrix(query).reject_semantic == pytest.approx(
        fresh.score_matrix(query).reject_semantic
    )


def test_the_saved_index_keeps_the_examples_and_goes_stale_when_they_change(tmp_path):
    encoder = BagOfLetters()
    Matcher.build(encoder, PHRASINGS, 0.5, EXAMPLES).save(tmp_path / "index")
    loaded = Matcher.load(tmp_path / "index", encoder, PHRASINGS, 0.5, EXAMPLES)
    assert loaded is not None and loaded.out_of_scope == EXAMPLES
    assert Matcher.load(tmp_path / "index", encoder, PHRASINGS, 0.5, EXAMPLES[:2]) is None
    assert Matcher.load(tmp_path / "index", encoder, None, 0.5) is not None  # for reuse


QUESTION = "Apa itu mode mewah?"
# An out-of-scope example that shares most of its words with the FAQ's question, and a
# message close to it (not a copy).
LOOKALIKE = "Apa itu mode mewah di kartu kredit bank?"
ASKED = "apa itu mode mewah di kartu kredit bank ya kak"


def ask(app, text: str) -> dict:  # noqa: ANN001
    return app.test_client().post("/api/chat", json={"message": text}).get_json()


def store(app, example: OutOfScopeExample) -> None:  # noqa: ANN001
    """Save an example and re-index as every catalog change does (no retraining)."""
    with app.app_context(), new_session(app) as session:
        session.add(example)
        session.commit()
        refresh_index(app, session)
    assert serving(app).sync(), "the new index is not served"


# A high FAQ score (the threshold is 0.5) and a reject margin of 0: only the rule can refuse.
CRAFTED = {"BOT_SEED_OOS_FILE": "", "BOT_THRESHOLD": 0.5, "BOT_REJECT_MARGIN": 0.0}


def test_the_reject_class_overrides_a_high_faq_score(make_app):
    app = make_app(**CRAFTED)
    before = ask(app, ASKED)
    assert before["fallback"] is False and before["question"] == QUESTION  # no reject class
    assert before["score"] >= 0.5
    store(app, OutOfScopeExample(text=LOOKALIKE, source="admin", approved=True))
    after = ask(app, ASKED)
    assert after["fallback"] is True and after["fallback_rule"] == "reject_class"
    assert after["score"] == pytest.approx(before["score"], abs=1e-5)  # the same FAQ score:
    # examples have a TF-IDF of their own, so adding one never changes an FAQ's score
    assert ask(app, QUESTION)["fallback"] is False  # the FAQ itself still answers


def test_an_example_itself_is_refused_whatever_the_margin(make_app):
    app = make_app(**{**CRAFTED, "BOT_REJECT_MARGIN": 10.0})  # the margin never fires
    store(app, OutOfScopeExample(text=LOOKALIKE, source="admin", approved=True))
    assert ask(app, ASKED)["fallback"] is False
    copy = ask(app, "  apa itu MODE mewah di kartu kredit bank? ")
    assert copy["fallback"] is True and copy["fallback_rule"] == "reject_class"


def test_an_unapproved_example_changes_nothing(make_app):
    app = make_app(**CRAFTED)
    store(app, OutOfScopeExample(text=LOOKALIKE, source="telegram", approved=False))
    assert ask(app, LOOKALIKE)["fallback"] is False
    assert ask(app, ASKED)["fallback"] is False


def test_the_fallback_says_what_the_bot_can_help_with(make_app):
    app = make_app(BOT_THRESHOLD=1.5)
    reply = ask(app, "apa saja")
    assert reply["fallback"] is True
    lines = reply["answer"].splitlines()
    assert lines[0].startswith("Maaf")
    topics = [line[2:] for line in lines if line.startswith("• ")]
    assert QUESTION in topics and "Apa itu FinBuddy?" in topics and len(topics) == 5
    own = make_app(BOT_THRESHOLD=1.5, BOT_FALLBACK_TEXT="Coba tanya soal:\n{topics}")
    assert ask(own, "apa saja")["answer"].splitlines()[1] == "• Apa itu FinBuddy?"
    plain = make_app(BOT_THRESHOLD=1.5, BOT_FALLBACK_TEXT="Nanti dijawab {admin}.")
    assert ask(plain, "apa saja")["answer"] == "Nanti dijawab {admin}."  # no placeholder


def topics_offered(app) -> list[str]:  # noqa: ANN001
    reply = ask(app, "apa saja")
    assert reply["fallback"] is True
    return [line[2:] for line in reply["answer"].splitlines() if line.startswith("• ")]


def rename_first_faq(app, question: str) -> None:  # noqa: ANN001
    from sqlalchemy import update

    from bot.models import Faq

    with new_session(app) as session:
        session.execute(
            update(Faq).where(Faq.question == "Apa itu FinBuddy?").values(question=question)
        )
        session.commit()


@pytest.mark.parametrize("reload_seconds", [0.0, 3600.0])
def test_the_fallback_topics_are_read_again_after_the_reload_interval(make_app, reload_seconds):
    app = make_app(BOT_THRESHOLD=1.5, BOT_RELOAD_SECONDS=reload_seconds)
    assert "Apa itu FinBuddy?" in topics_offered(app)
    rename_first_faq(app, "Apa sih FinBuddy itu?")
    later = topics_offered(app)
    if reload_seconds:  # within the interval: the topics read a moment ago
        assert "Apa itu FinBuddy?" in later and "Apa sih FinBuddy itu?" not in later
    else:
        assert "Apa sih FinBuddy itu?" in later and "Apa itu FinBuddy?" not in later


def test_saves_from_several_threads_never_collide(tmp_path):
    """Serving (a stale index) and the re-indexer may save one version's index at once."""
    import threading

    matcher = Matcher.build(BagOfLetters(), PHRASINGS, 0.5, EXAMPLES)
    errors: list[Exception] = []

    def save_often() -> None:
        try:
            for _ in range(15):
                matcher.save(tmp_path / "index")
        except Exception as exc:  # any failure is what this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=save_often) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Matcher.load(tmp_path / "index", BagOfLetters(), PHRASINGS, 0.5, EXAMPLES) is not None
    assert sorted(path.name for path in tmp_path.iterdir()) == ["index"]  # nothing left over
