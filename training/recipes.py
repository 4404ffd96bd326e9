"""Training recipes (GitHub issue 6): MNRL pairs, scored pairs, triplets; one trainer for all.

- `mnrl`: the database's (message, canonical question) pairs, optionally with mined hard
  negatives; early stopping on the FAQ evaluation file (an InformationRetrievalEvaluator).
- `cosine`: a `sentence1,sentence2,score` CSV, CosineSimilarityLoss or CoSENTLoss, Spearman on
  a held-out split (the indo-e5-small-cosine card).
- `triplet`: an `anchor,positive,negative` CSV, MNRL with the negatives column, triplet
  accuracy on a held-out split (the indo-bge-m3 and korean-roberta-nli cards).

Data files (`training.recipe_data`) are read and validated when the recipe is prepared, before
anything is trained or written; a bad file is rejected whole with every problem's line and
column.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.recipe_data import SCORED_PAIR_COLUMNS
from training.recipe_data import SPLIT_SEED
from training.recipe_data import TRIPLET_COLUMNS
from training.recipe_data import read_scored_pairs_csv
from training.recipe_data import read_triplets_csv
from training.recipe_data import split_held_out
from training.trainer import Evaluation
from training.trainer import TrainingConfig
from training.trainer import TrainingJob
from training.trainer import TrainingResult
from training.trainer import fit_batch_size
from training.trainer import load_for_training
from training.trainer import train_model

RECIPES = ("mnrl", "cosine", "triplet")
DEFAULT_OOS_NEGATIVES = True  # see README "Out of scope": measured with and without
LOSSES = {"mnrl": ("mnrl",), "cosine": ("cosine", "cosent"), "triplet": ("mnrl",)}


@dataclass(frozen=True)
class FaqRetrievalSet:
    """The FAQ evaluation file as retrieval: messages, expected FAQ ids, indexed phrasings."""

    texts: list[str]
    expected: list[int | None]
    phrasings: list[tuple[int, str]]  # (faq_id, text), every indexed phrasing


@dataclass(frozen=True)
class Recipe:
    """A validated recipe; its data file (if any) is already read into `rows`."""

    name: str = "mnrl"
    loss: str = "mnrl"
    hard_negatives: int = 0
    oos_negatives: bool = DEFAULT_OOS_NEGATIVES  # out-of-scope examples as MNRL negatives
    data_file: str | None = None
    rows: tuple[Any, ...] = ()


READERS = {"cosine": read_scored_pairs_csv, "triplet": read_triplets_csv}


def prepare_recipe(
    name: str = "mnrl",
    data_file: str | Path | None = None,
    loss: str | None = None,
    hard_negatives: int = 0,
    oos_negatives: bool | None = None,
) -> Recipe:
    """Validate the options and read the data file now, so a bad one fails before training.

    `oos_negatives` None takes the recipe's default (on for mnrl, off for the file recipes).

    Raises ValueError for options that do not fit together and CsvValidationError for a
    malformed data file.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    loss = loss or LOSSES[name][0]
    if loss not in LOSSES[name]:
        raise ValueError(
            f"the {name} recipe trains with {' or '.join(LOSSES[name])}, not {loss!r}"
        )
    if hard_negatives < 0:
        raise ValueError("the number of hard negatives cannot be negative")
    if hard_negatives and name != "mnrl":
        raise ValueError("hard negatives are mined for the mnrl recipe only")
    if oos_negatives and name != "mnrl":
        raise ValueError("out-of-scope negatives are for the mnrl recipe only")
    if name == "mnrl":
        if data_file is not None:
            raise ValueError("the mnrl recipe trains on the database's pairs, not a data file")
        use_oos = DEFAULT_OOS_NEGATIVES if oos_negatives is None else oos_negatives
        return Recipe(name, loss, hard_negatives, use_oos)
    if data_file is None:
        columns = ",".join(SCORED_PAIR_COLUMNS if name == "cosine" else TRIPLET_COLUMNS)
        raise ValueError(f"the {name} recipe needs a data file ({columns})")
    return Recipe(name, loss, 0, False, str(data_file), READERS[name](data_file))


def faq_retrieval_evaluator(faq_set: FaqRetrievalSet) -> Any | None:
    """Queries: in-scope messages; corpus: every indexed phrasing; relevant: the right FAQ's.

    None when no message has an indexed FAQ to find, so there is nothing to stop on.
    """
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    corpus = {str(index): text for index, (_, text) in enumerate(faq_set.phrasings)}
    by_faq: dict[int, set[str]] = {}
    for index, (faq_id, _) in enumerate(faq_set.phrasings):
        by_faq.setdefault(faq_id, set()).add(str(index))
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for index, (text, faq_id) in enumerate(zip(faq_set.texts, faq_set.expected, strict=True)):
        if faq_id is not None and faq_id in by_faq:
            queries[str(index)] = text
            relevant[str(index)] = by_faq[faq_id]
    if not queries:
        return None
    return InformationRetrievalEvaluator(
        queries, corpus, relevant, name="faq-eval", write_csv=False
    )


def _train_on_file(
    recipe: Recipe,
    base_model: str,
    output_dir: str | Path,
    config: TrainingConfig,
    callbacks: list[Any] | None,
) -> TrainingResult:
    """The cosine and triplet recipes: train on most of the file, evaluate on the rest."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from sentence_transformers.sentence_transformer.evaluation import TripletEvaluator
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started = time.perf_counter()
    train, held = split_held_out(recipe.rows)
    model = load_for_training(base_model, config.seed)
    columns = SCORED_PAIR_COLUMNS if recipe.name == "cosine" else TRIPLET_COLUMNS
    if recipe.name == "cosine":
        loss = (
            CoSENTLoss(model, scale=config.scale)
            if recipe.loss == "cosent"
            else CosineSimilarityLoss(model)
        )
        evaluator = EmbeddingSimilarityEvaluator(
            *([getattr(row, name) for row in held] for name in columns),
            main_similarity="cosine",
            name="held-out",
            write_csv=False,
        )
        batch_size = max(1, min(config.batch_size, len(train)))
    else:
        loss = MultipleNegativesRankingLoss(model, scale=config.scale)
        evaluator = TripletEvaluator(
            *([getattr(row, name) for row in held] for name in columns),
            main_similarity_function="cosine",
            name="held-out",
            write_csv=False,
        )
        batch_size = fit_batch_size(config.batch_size, [row.positive for row in train])
    job = TrainingJob(
        recipe=recipe.name,
        model=model,
        columns={name: [getattr(row, name) for row in train] for name in columns},
        loss=loss,
        batch_size=batch_size,
        no_duplicates=recipe.name == "triplet",
        evaluation=Evaluation(evaluator, f"the held-out split of {recipe.data_file}"),
        dataset={
            "source": recipe.data_file,
            "n_rows": len(recipe.rows),
            "n_train": len(train),
            "n_held_out": len(held),
            "held_out_lines": [row.line for row in held],
            "split_seed": SPLIT_SEED,
        },
    )
    return train_model(job, base_model, output_dir, config, callbacks=callbacks, started=started)


def train_recipe(
    recipe: Recipe,
    base_model: str,
    pairs: list[tuple[str, str]],
    output_dir: str | Path,
    config: TrainingConfig,
    *,
    faq_set: FaqRetrievalSet | None = None,
    callbacks: list[Any] | None = None,
    out_of_scope: list[str] | None = None,
) -> TrainingResult:
    """Train `recipe` from `base_model` into `output_dir`; `pairs` feed the mnrl recipe, and
    so do the `out_of_scope` examples (as negatives) when the recipe says so.

    The mnrl recipe stops early on `faq_set` (the FAQ evaluation file) unless patience is 0,
    which keeps that file out of training decisions.
    """
    from training.mnrl import fine_tune_mnrl  # loads torch: only when training

    if recipe.name != "mnrl":
        return _train_on_file(recipe, base_model, output_dir, config, callbacks)
    evaluator = faq_retrieval_evaluator(faq_set) if faq_set and config.patience > 0 else None
    return fine_tune_mnrl(
        base_model,
        pairs,
        output_dir,
        config,
        callbacks=callbacks,
        hard_negatives=recipe.hard_negatives,
        out_of_scope=out_of_scope if recipe.oos_negatives else None,
        evaluation=Evaluation(evaluator, "the evaluation file") if evaluator else None,
    )
