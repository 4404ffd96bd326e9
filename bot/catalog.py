"""FAQ data in the database: the phrasings to index, imports, exports and the shipped seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from bot.csv_io import ALTERNATE_SEPARATOR
from bot.csv_io import FaqRecord
from bot.csv_io import PairRecord
from bot.csv_io import read_faq_csv
from bot.csv_io import read_pairs_csv
from bot.matcher import Phrasing
from bot.models import AlternateQuestion
from bot.models import Faq
from bot.models import TrainingPair
from bot.out_of_scope import add_examples
from bot.out_of_scope import phrasing_conflicts
from bot.out_of_scope import read_out_of_scope_csv
from training.tabular import CsvValidationError
from training.tabular import Problem
from training.tabular import normalise_key


@dataclass(frozen=True)
class ImportSummary:
    created: int = 0
    updated: int = 0
    pairs_added: int = 0
    pairs_skipped: int = 0
    out_of_scope_added: int = 0


def has_faqs(session: Session) -> bool:
    """Any FAQ at all, active or not: only a truly empty catalog gets the shipped seed."""
    return session.scalar(select(Faq.id).limit(1)) is not None


def count_active_faqs(session: Session) -> int:
    return session.scalar(select(func.count(Faq.id)).where(Faq.active.is_(True))) or 0


def active_faqs(session: Session) -> list[Faq]:
    statement = (
        select(Faq)
        .where(Faq.active.is_(True))
        .options(selectinload(Faq.alternates), selectinload(Faq.training_pairs))
        .order_by(Faq.id)
    )
    return list(session.scalars(statement))


def indexed_phrasings(session: Session) -> list[Phrasing]:
    """Every phrasing we know of each active FAQ: question, alternates, approved pairs."""
    phrasings: list[Phrasing] = []
    for faq in active_faqs(session):
        seen: set[str] = set()
        texts = [faq.question]
        texts += [alternate.text for alternate in faq.alternates]
        texts += [pair.text for pair in faq.training_pairs if pair.approved]
        for text in texts:
            key = normalise_key(text)
            if key not in seen:
                seen.add(key)
                phrasings.append(Phrasing(faq.id, text))
    return phrasings


def phrasing_keys(session: Session) -> dict[str, int]:
    """Every indexed phrasing (normalised) -> its FAQ: what an out-of-scope example may not be."""
    return {normalise_key(p.text): p.faq_id for p in indexed_phrasings(session)}


def example_questions(session: Session, limit: int) -> list[str]:
    """One canonical question per FAQ category, in FAQ order: what the bot can help with.

    Chosen in SQL: every fallback reply asks, and a big catalog must not be read for it.
    """
    firsts = select(func.min(Faq.id)).where(Faq.active.is_(True)).group_by(Faq.category)
    return list(
        session.scalars(
            select(Faq.question).where(Faq.id.in_(firsts)).order_by(Faq.id).limit(limit)
        )
    )


def training_examples(session: Session) -> list[tuple[str, str]]:
    """(message, canonical question) pairs to fine-tune on: approved pairs and alternates."""
    examples: list[tuple[str, str]] = []
    for faq in active_faqs(session):
        examples += [(alternate.text, faq.question) for alternate in faq.alternates]
        examples += [(pair.text, faq.question) for pair in faq.training_pairs if pair.approved]
    return examples


@dataclass(frozen=True)
class Owner:
    """The FAQ a canonical or alternate question belongs to."""

    faq_id: int
    canonical: bool


def phrasing_owners(session: Session) -> dict[str, Owner]:
    """Canonical and alternate questions of every FAQ (normalised) -> their FAQ."""
    owners = {
        normalise_key(question): Owner(faq_id, True)
        for faq_id, question in session.execute(select(Faq.id, Faq.question))
    }
    for faq_id, text in session.execute(select(AlternateQuestion.faq_id, AlternateQuestion.text)):
        owners.setdefault(normalise_key(text), Owner(faq_id, False))
    return owners


def question_lookup(session: Session) -> dict[str, int]:
    """Canonical and alternate questions of every FAQ (normalised) -> FAQ id."""
    return {key: owner.faq_id for key, owner in phrasing_owners(session).items()}


def foreign_phrasings(
    owners: dict[str, Owner],
    faq_id: int | None,
    texts: list[str],
    replaced: frozenset[int] = frozenset(),
) -> list[tuple[str, int]]:
    """The texts that are already another FAQ's question or alternate, with that FAQ's id.

    A phrasing may belong to one FAQ only, or answers would be ambiguous. `replaced` names
    FAQs whose alternates are about to be rewritten (an import), so those do not count.
    """
    found = []
    for text in texts:
        owner = owners.get(normalise_key(text))
        if owner is None or owner.faq_id == faq_id:
            continue
        if not owner.canonical and owner.faq_id in replaced:
            continue
        found.append((text, owner.faq_id))
    return found


def resolve_pairs(
    session: Session, records: list[PairRecord], source: str
) -> list[tuple[PairRecord, int | None]]:
    """Attach each pair row to its FAQ id; an unknown question rejects the whole file."""
    lookup = question_lookup(session)
    resolved: list[tuple[PairRecord, int | None]] = []
    problems: list[Problem] = []
    for record in records:
        if record.question is None:
            resolved.append((record, None))
            continue
        faq_id = lookup.get(normalise_key(record.question))
        if faq_id is None:
            problems.append(
                Problem(record.line, "question", f"no FAQ has the question {record.question!r}")
            )
        resolved.append((record, faq_id))
    if problems:
        raise CsvValidationError(source, problems)
    return resolved


def _conflicts_with_database(session: Session, records: list[FaqRecord]) -> list[Problem]:
    """An alternate may not be another FAQ's question or alternate: answers would be ambiguous.

    FAQs in the file get the file's alternates, so their current alternates do not count.
    """
    owners = phrasing_owners(session)
    in_file = [owners.get(normalise_key(record.question)) for record in records]
    replaced = frozenset(owner.faq_id for owner in in_file if owner and owner.canonical)
    problems = []
    for record, own in zip(records, in_file, strict=True):
        own_id = own.faq_id if own is not None and own.canonical else None
        for question, owner in foreign_phrasings(owners, own_id, [record.question], replaced):
            problems.append(
                Problem(
                    record.line,
                    "question",
                    f"{question!r} is already an alternate of another FAQ (id {owner})",
                )
            )
        for alternate, owner in foreign_phrasings(owners, own_id, record.alternates, replaced):
            problems.append(
                Problem(
                    record.line,
                    "alternates",
                    f"{alternate!r} already belongs to another FAQ (id {owner})",
                )
            )
    return problems


def import_faqs(session: Session, records: list[FaqRecord], source: str) -> ImportSummary:
    """Create or update FAQs by question; the caller commits, so a failure writes nothing."""
    problems = _conflicts_with_database(session, records)
    if problems:
        raise CsvValidationError(source, problems)
    existing = {normalise_key(f.question): f for f in session.scalars(select(Faq))}
    created = updated = 0
    for record in records:
        faq = existing.get(normalise_key(record.question))
        if faq is None:
            faq = Faq(question=record.question, answer=record.answer, category=record.category)
            session.add(faq)
            created += 1
        else:
            faq.answer, faq.category, faq.active = record.answer, record.category, True
            updated += 1
        faq.alternates = [AlternateQuestion(text=text) for text in record.alternates]
    session.flush()
    return ImportSummary(created=created, updated=updated)


def import_pairs(session: Session, records: list[PairRecord], source: str) -> ImportSummary:
    """Add training pairs, and out-of-scope rows as approved examples; the caller commits.

    Known pairs and examples are skipped. An unknown question, or an out-of-scope row that is
    an FAQ's phrasing, rejects the whole file with every such problem.
    """
    problems = phrasing_conflicts(records, phrasing_keys(session))
    try:
        resolved = resolve_pairs(session, records, source)
    except CsvValidationError as exc:
        problems, resolved = [*exc.problems, *problems], []
    if problems:
        raise CsvValidationError(source, sorted(problems, key=lambda p: p.line))
    out_of_scope = [record.paraphrase for record, faq_id in resolved if faq_id is None]
    examples_added = add_examples(session, out_of_scope, source, approved=True)
    known = {
        (faq_id, normalise_key(text))
        for faq_id, text in session.execute(select(TrainingPair.faq_id, TrainingPair.text))
    }
    added = skipped = 0
    for record, faq_id in resolved:
        if faq_id is None:
            continue
        key = (faq_id, normalise_key(record.paraphrase))
        if key in known:
            skipped += 1
            continue
        known.add(key)
        session.add(TrainingPair(text=record.paraphrase, faq_id=faq_id, source=source[:50]))
        added += 1
    session.flush()
    return ImportSummary(
        pairs_added=added, pairs_skipped=skipped, out_of_scope_added=examples_added
    )


def seed(
    session: Session,
    faq_file: str | Path,
    pairs_file: str | Path | None,
    out_of_scope_file: str | Path | None = None,
) -> ImportSummary:
    """Load FAQ, training-pair and out-of-scope files in one transaction."""
    faq_summary = import_faqs(session, read_faq_csv(faq_file), str(faq_file))
    pair_summary = ImportSummary()
    if pairs_file is not None and Path(pairs_file).is_file():
        pair_summary = import_pairs(session, read_pairs_csv(pairs_file), "seed")
    examples_added = 0
    if out_of_scope_file is not None and Path(out_of_scope_file).is_file():
        examples_added = import_pairs(
            session, read_out_of_scope_csv(out_of_scope_file), "seed"
        ).out_of_scope_added
    session.commit()
    return ImportSummary(
        created=faq_summary.created,
        updated=faq_summary.updated,
        pairs_added=pair_summary.pairs_added,
        pairs_skipped=pair_summary.pairs_skipped,
        out_of_scope_added=pair_summary.out_of_scope_added + examples_added,
    )


def export_rows(session: Session, include_inactive: bool = False) -> list[dict[str, str]]:
    statement = select(Faq).options(selectinload(Faq.alternates)).order_by(Faq.id)
    if not include_inactive:
        statement = statement.where(Faq.active.is_(True))
    return [
        {
            "question": faq.question,
            "answer": faq.answer,
            "category": faq.category,
            "alternates": ALTERNATE_SEPARATOR.join(a.text for a in faq.alternates),
        }
        for faq in session.scalars(statement)
    ]
