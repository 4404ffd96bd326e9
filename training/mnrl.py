"""The default recipe: (message, canonical question) pairs trained with MNRL.

Each colloquial message is paired with its FAQ's canonical question and trained with
MultipleNegativesRankingLoss, optionally with mined hard negatives and with out-of-scope
examples as extra negatives, through `train_model`.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import torch

from training.trainer import Evaluation
from training.trainer import TrainingConfig
from training.trainer import TrainingJob
from training.trainer import TrainingResult
from training.trainer import fit_batch_size
from training.trainer import load_for_training
from training.trainer import train_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MAX_OUT_OF_SCOPE_COLUMNS = 2  # each one adds a batch's worth of texts to encode per step


def out_of_scope_columns(n_rows: int, examples: list[str], seed: int) -> dict[str, list[str]]:
    """Negative columns that deal the out-of-scope examples over the rows, shuffled (seeded).

    Enough columns (at most MAX_OUT_OF_SCOPE_COLUMNS) that every example is used when there
    are more examples than rows; with fewer, examples repeat across rows. They only ever
    appear as negatives, never as an anchor with a positive: nothing says two out-of-scope
    messages mean the same thing.
    """
    if not examples or not n_rows:
        return {}
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    count = min(MAX_OUT_OF_SCOPE_COLUMNS, math.ceil(len(shuffled) / n_rows))
    return {
        f"out_of_scope_{column + 1}": [
            shuffled[(column * n_rows + row) % len(shuffled)] for row in range(n_rows)
        ]
        for column in range(count)
    }


def mine_hard_negatives(
    model: SentenceTransformer, pairs: list[tuple[str, str]], count: int
) -> list[tuple[str, str, str]]:
    """Up to `count` (message, question, other question) triplets per pair.

    The negatives are the other FAQs' canonical questions the base model finds closest to the
    message. Every candidate belongs to a different FAQ by construction, so unlike
    `sentence_transformers.util.mine_hard_negatives` no false negative has to be guessed away.
    """
    questions = sorted({question for _, question in pairs})
    column = {question: index for index, question in enumerate(questions)}
    k = min(count, len(questions) - 1)
    if k <= 0:
        return []
    anchors = model.encode([anchor for anchor, _ in pairs], convert_to_tensor=True)
    candidates = model.encode(questions, convert_to_tensor=True)
    similarity = model.similarity(anchors, candidates)
    own = torch.tensor([column[question] for _, question in pairs])
    similarity[torch.arange(len(pairs)), own] = -math.inf
    nearest = similarity.topk(k, dim=1).indices.tolist()
    return [
        (anchor, question, questions[index])
        for (anchor, question), row in zip(pairs, nearest, strict=True)
        for index in row
    ]


def fine_tune_mnrl(
    base_model: str,
    pairs: list[tuple[str, str]],
    output_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    callbacks: list[Any] | None = None,
    hard_negatives: int = 0,
    out_of_scope: list[str] | None = None,
    evaluation: Evaluation | None = None,
) -> TrainingResult:
    """Train on (message, canonical question) pairs with MNRL and save to `output_dir`.

    Every positive is the canonical question of the pair's FAQ, so the no-duplicates batch
    sampler keeps two messages of one FAQ out of the same batch, where MNRL would otherwise treat
    the FAQ's own question as a negative (the FinBuddy recipe trained with that flaw).
    `hard_negatives` adds, per pair, that many mined negatives as a third column;
    `out_of_scope` examples join every batch as further negative columns, so messages learn to
    sit closer to their FAQ than to anything the bot must not answer.
    """
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    config = config or TrainingConfig()
    if not pairs:
        raise ValueError("no training pairs: add training pairs or alternate questions first")
    started = time.perf_counter()
    batch_size = fit_batch_size(config.batch_size, [question for _, question in pairs])
    model = load_for_training(base_model, config.seed)
    columns: dict[str, list[Any]] = {
        "anchor": [anchor for anchor, _ in pairs],
        "positive": [question for _, question in pairs],
    }
    dataset: dict[str, Any] = {"source": "database", "n_pairs": len(pairs)}
    if hard_negatives > 0:
        triplets = mine_hard_negatives(model, pairs, hard_negatives)
        columns = {
            name: [row[i] for row in triplets]
            for i, name in enumerate(("anchor", "positive", "negative"))
        }
        dataset.update(hard_negatives=hard_negatives, n_triplets=len(triplets))
    extra = out_of_scope_columns(len(columns["anchor"]), list(out_of_scope or []), config.seed)
    if extra:
        columns.update(extra)
        dataset.update(
            out_of_scope_negatives=len(set(out_of_scope or [])),
            out_of_scope_columns=len(extra),
        )
    job = TrainingJob(
        recipe="mnrl",
        model=model,
        columns=columns,
        loss=MultipleNegativesRankingLoss(model, scale=config.scale),
        batch_size=batch_size,
        evaluation=evaluation,
        dataset=dataset,
    )
    return train_model(job, base_model, output_dir, config, callbacks=callbacks, started=started)
