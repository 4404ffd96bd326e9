"""The index of a model version: every phrasing of the catalog and every approved out-of-scope
example, embedded with its served encoder.

The served encoder is the one the version's parity check chose (``bot.exporting``), unless
BOT_ENCODER asks for another; each encoder has its own index. A version made before serving
exports existed gets its export, and its choice, the first time it is loaded.
"""

from __future__ import annotations

import logging
import shutil
from functools import lru_cache
from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from bot.catalog import indexed_phrasings
from bot.encoders import CachedEncoder
from bot.encoders import Encoder
from bot.encoders import SentenceEncoder
from bot.exporting import BUILD_THREADS
from bot.exporting import base_export
from bot.exporting import export_version
from bot.exporting import index_dir
from bot.exporting import model_inside
from bot.exporting import serving_dir
from bot.exporting import serving_record
from bot.matcher import Matcher
from bot.matcher import Phrasing
from bot.model_store import ensure_local
from bot.models import ModelVersion
from bot.out_of_scope import approved_texts
from bot.versions import bump_index_revision
from bot.versions import local_dir
from bot.versions import local_model
from bot.versions import read_metrics
from bot.versions import write_metrics
from bot.versions import write_model_card
from training.onnx_export.cache import export_cache_dir
from training.onnx_export.config import CONFIG_FILE
from training.onnx_export.config import ServingConfig
from training.onnx_export.runtime import OnnxEncoder

logger = logging.getLogger(__name__)


def encoder_for(model: str) -> Encoder:
    """A base model's reference encoder: its float32 export (torch if it has none).

    The export is made once per machine (in the model cache) and equals torch (cosine >=
    0.999, checked when it is made), so a version can be calibrated without loading torch.
    Not kept: a worker that created the first version serves with int8 afterwards.
    """
    directory, _ = base_export(model)
    if directory is None:
        return SentenceEncoder(model)
    return OnnxEncoder(directory, "onnx", BUILD_THREADS)


def matcher_for(
    session: Session, version: ModelVersion, kind: str | None = None
) -> Matcher | None:
    """The version's matcher with its served encoder (or `kind`): the saved index if still
    current, else a fresh one built and saved."""
    phrasings = indexed_phrasings(session)
    if not phrasings:
        return None
    examples = approved_texts(session)
    encoder, kind = served_encoder(session, version, kind)
    directory = index_dir(version_files(version), kind)
    matcher = Matcher.load(directory, encoder, phrasings, version.semantic_weight, examples)
    return matcher or _build(directory, encoder, version, phrasings, examples)


def _build(
    directory: Path,
    encoder: Encoder,
    version: ModelVersion,
    phrasings: list[Phrasing],
    examples: list[str],
) -> Matcher:
    """Index and save; texts already in the saved index keep their vectors, so an edit
    re-encodes only what changed (one example added: one message encoded).
    """
    previous = Matcher.load(directory, encoder, None, version.semantic_weight)
    matcher = Matcher.build(
        encoder,
        phrasings,
        version.semantic_weight,
        examples,
        reuse=previous.vectors() if previous is not None else None,
    )
    matcher.save(directory)
    return matcher


def rebuild_index(session: Session, version: ModelVersion) -> None:
    """Re-index `version` for the catalog as it is now (no retraining); servers reload it."""
    phrasings = indexed_phrasings(session)
    if phrasings:
        encoder, kind = served_encoder(session, version)
        directory = index_dir(version_files(version), kind)
        _build(directory, encoder, version, phrasings, approved_texts(session))
    bump_index_revision(session, version)


def version_files(version: ModelVersion) -> Path:
    """The version's folder on this host, fetched from BOT_MODEL_STORE if this host lacks it."""
    directory = local_dir(current_app, version)
    return ensure_local(current_app, version.name, directory)


def served_encoder(
    session: Session, version: ModelVersion, kind: str | None = None
) -> tuple[CachedEncoder, str]:
    """The encoder `version` serves with, and its kind: `kind`, else BOT_ENCODER, else the
    one its parity check chose. A kind the version has no file for gets the chosen one."""
    config = current_app.config
    files = version_files(version)
    directory = serving_dir(files)
    record = serving_record(files)
    exported = ServingConfig.read(directory)
    if record is None or (record["encoder"] != "torch" and exported is None):
        # never exported, or exported in a format this release no longer reads
        record = export_serving(session, version)
        exported = ServingConfig.read(directory)
    chosen = record["encoder"]
    wanted = kind or config["BOT_ENCODER"] or chosen
    available = exported.available(directory) if exported else []
    reason = record["reason"]
    if wanted != "torch" and wanted not in available:
        reason = f"{wanted} was asked for but this version has no such file; {reason}"
        wanted = chosen if chosen in available else "torch"
    elif wanted != chosen:
        reason = f"asked for {wanted} (BOT_ENCODER or --encoder); parity chose {chosen}: {reason}"
    config_file = directory / CONFIG_FILE
    encoder = _encoder(
        str(directory),
        config_file.stat().st_mtime_ns if config_file.is_file() else 0,  # a new export
        local_model(current_app, version),
        wanted,
        config["BOT_ENCODER_THREADS"],
        config["BOT_EMBED_CACHE_SIZE"],
        reason,
    )
    return encoder, wanted


@lru_cache(maxsize=1)
def _encoder(
    directory: str,
    exported_at: int,
    model_path: str,
    kind: str,
    threads: int,
    capacity: int,
    reason: str,
) -> CachedEncoder:
    """The encoder a worker serves with, kept across index rebuilds (its session and its cache
    of messages stay); one at a time, so a version swapped out leaves memory with its model."""
    encoder = (
        SentenceEncoder(model_path)
        if kind == "torch"
        else OnnxEncoder(Path(directory), kind, threads)
    )
    return CachedEncoder(encoder, capacity, reason)


def export_serving(session: Session, version: ModelVersion, force: bool = False) -> dict:
    """Export `version` for serving and record the encoder its parity check allows.

    Versions made before serving exports existed get this the first time they are loaded;
    `force` (``flask model export --force``) exports again, the base model's cache included.
    """
    directory = version_files(version)
    model = local_model(current_app, version)
    if force:
        shutil.rmtree(serving_dir(directory), ignore_errors=True)
        if model_inside(model, directory) is None:
            shutil.rmtree(export_cache_dir(model), ignore_errors=True)
    logger.info("exporting model version %s for serving", version.name)
    record = export_version(
        current_app,
        session,
        directory,
        model,
        version.semantic_weight,
        version.threshold,
        version.reject_margin,
    )
    metrics = {**read_metrics(directory), "serving": record}
    write_metrics(directory, metrics)
    write_model_card(directory, version.name, metrics)
    return record
