"""A version's serving export: ONNX files beside the model, and which encoder may serve.

Every version directory gets ``serving/`` (``training.onnx_export``) and a ``serving`` block
in ``metrics.json``: the encoder chosen and why. float32 ONNX serves when its embeddings match
torch's (cosine >= 0.999, checked at export); the int8 copy serves when, on the evaluation
file, no figure (acc@1, oos_recall, overall) is more than 0.01 below float32's, both judged
out of fold with float32's calibration (`_Judge`). Otherwise the version serves the next best,
and says why.

Exports need torch. A process that has not loaded it (a web worker) runs them in a child
process, so it never does; the base model's export is kept in the model cache and shared by
every version that serves it unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock
from flask import Flask
from sqlalchemy.orm import Session

from bot.catalog import indexed_phrasings
from bot.config import SHIPPED_DATA
from bot.csv_io import read_faq_csv
from bot.csv_io import read_pairs_csv
from bot.evaluation_set import CalibrationData
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import calibration_data
from bot.evaluation_set import cross_validation
from bot.evaluation_set import judged_with
from bot.evaluation_set import measure
from bot.matcher import Matcher
from bot.matcher import Phrasing
from bot.out_of_scope import approved_texts
from training.evaluation import CV_FOLDS
from training.evaluation import Calibration
from training.files import replace_directory
from training.onnx_export.cache import export_cache_dir
from training.onnx_export.config import INT8_KINDS
from training.onnx_export.config import ServingConfig
from training.onnx_export.runtime import OnnxEncoder
from training.tabular import CsvValidationError

logger = logging.getLogger(__name__)

SERVING_DIR = "serving"
FIGURES = ("accuracy_at_1", "oos_recall", "overall_accuracy")
TOLERANCE = 0.01
BUILD_THREADS = os.cpu_count() or 1  # index builds at export time use the whole machine


def serving_dir(version_dir: Path) -> Path:
    return Path(version_dir) / SERVING_DIR


def index_dir(version_dir: Path, kind: str) -> Path:
    """Each encoder has its own index: int8 vectors differ from float32 ones."""
    return Path(version_dir) / f"index-{kind}"


def serving_record(version_dir: Path) -> dict[str, Any] | None:
    """The ``serving`` block of the version's metrics.json: the encoder chosen and why."""
    path = Path(version_dir) / "metrics.json"
    return json.loads(path.read_text()).get("serving") if path.is_file() else None


def export_version(
    app: Flask,
    session: Session,
    directory: Path,
    model: str,
    semantic_weight: float,
    threshold: float,
    reject_margin: float | None,
) -> dict[str, Any]:
    """Export the version's model into ``directory/serving`` and choose its encoder.

    `model` is the version's model: a directory inside `directory` (fine-tuned) or a base
    model served as it is, whose export is copied from the cache. Builds and saves the chosen
    encoder's index; returns the ``serving`` record for metrics.json and the model card.
    """
    evaluation, why_no_evaluation = _evaluation(app, session)
    phrasings = indexed_phrasings(session)
    failure = export_files(directory, model, evaluation, phrasings)
    if failure is not None:
        return no_export(failure)
    settings = ServedSettings(
        semantic_weight, threshold, reject_margin, app.config["BOT_WRONG_ANSWER_COST"]
    )
    return choose_encoder(
        Path(directory),
        phrasings,
        approved_texts(session),
        evaluation,
        why_no_evaluation,
        settings,
    )


def export_files(
    directory: Path, model: str, evaluation: EvaluationSet | None, phrasings: list[Phrasing]
) -> str | None:
    """Write the ONNX files of `model` into ``directory/serving``; why they could not be, or
    None. The parity texts are the evaluation file's messages and the indexed phrasings, which
    also calibrate the int8 copy."""
    directory = Path(directory)
    inside = model_inside(model, directory)
    if inside is None:
        return install_base_export(model, serving_dir(directory))
    calibration = [p.text for p in phrasings]
    texts = (evaluation.texts if evaluation else []) + calibration
    return run_export(str(directory / inside), serving_dir(directory), texts, inside, calibration)


def no_export(failure: str) -> dict[str, Any]:
    """The ``serving`` record of a version without ONNX files: torch serves it."""
    return {"encoder": "torch", "reason": f"no ONNX export: {failure}"}


def float32_encoder(directory: Path) -> OnnxEncoder | None:
    """The exported float32 encoder of the version in `directory`, if it gives torch's
    embeddings (the parity check's first rule); None otherwise."""
    config = ServingConfig.read(serving_dir(directory))
    if config is None or not config.parity.get("onnx", {}).get("passed"):
        return None
    return OnnxEncoder(serving_dir(directory), "onnx", BUILD_THREADS)


@dataclass(frozen=True)
class ServedSettings:
    """What the version serves with: the parity check measures every encoder at these."""

    semantic_weight: float
    threshold: float
    reject_margin: float | None
    wrong_cost: float


@dataclass(frozen=True)
class Float32Reference:
    """A float32 ONNX matcher over the version's phrasings and its calibration data (its
    scores of the evaluation file and the out-of-scope examples), when the caller has them:
    the parity check compares the int8 copies with these instead of building them again."""

    matcher: Matcher
    data: CalibrationData


def choose_encoder(
    directory: Path,
    phrasings: list[Phrasing],
    out_of_scope: list[str],
    evaluation: EvaluationSet | None,
    why_no_evaluation: str,
    settings: ServedSettings,
    float32: Float32Reference | None = None,
) -> dict[str, Any]:
    """The parity check on the evaluation file, and the encoder it allows; saves its index."""
    target = serving_dir(directory)
    config = ServingConfig.read(target)
    floating = config.parity["onnx"]
    cosine = {kind: config.parity[kind] for kind in config.available(target)}
    record: dict[str, Any] = {"cosine": cosine, "tolerance": TOLERANCE, "failed": config.failed}
    if not floating["passed"]:
        reason = (
            f"the float32 export differs from torch (min cosine {floating['min_cosine']} "
            f"< {floating['required']})"
        )
        return {**record, "encoder": "torch", "reason": reason}

    def build(kind: str) -> Matcher:
        encoder = OnnxEncoder(target, kind, BUILD_THREADS)
        return Matcher.build(encoder, phrasings, settings.semantic_weight, out_of_scope)

    available = config.available(target)
    int8_kinds = [kind for kind in INT8_KINDS if kind in available]
    matcher = float32.matcher if float32 else build("onnx")
    unmade = "; ".join(f"{kind}: {why}" for kind, why in config.failed.items())
    if evaluation is None:
        matcher.save(index_dir(directory, "onnx"))
        return {**record, "encoder": "onnx", "reason": why_no_evaluation if int8_kinds else unmade}
    reference = float32 or Float32Reference(matcher, calibration_data(matcher, evaluation))
    judge, float32_figures = _judge(reference, evaluation, settings)
    record["judged"] = judge.how
    figures = {"onnx": float32_figures}
    record["figures"] = figures
    losses = []
    for kind in int8_kinds:  # the fastest that keeps the figures
        int8_matcher = build(kind)
        figures[kind] = judge.figures(int8_matcher)
        lost = _losses(figures["onnx"], figures[kind])
        if not lost:
            int8_matcher.save(index_dir(directory, kind))
            reason = f"{kind} keeps the evaluation figures within {TOLERANCE} of float32"
            return {**record, "encoder": kind, "reason": "; ".join([*losses, reason])}
        losses.append(f"{kind}: {lost}")
    matcher.save(index_dir(directory, "onnx"))
    reason = f"int8 loses more than {TOLERANCE} on the evaluation file: " + "; ".join(losses)
    return {**record, "encoder": "onnx", "reason": reason if losses else unmade}


@dataclass(frozen=True)
class _Judge:
    """How the parity check measures each encoder on the evaluation file.

    Out of fold where the file has enough rows: each fold of the file (and of the
    out-of-scope examples) is judged with the weight, threshold and reject margin calibrated
    on float32's scores of the other folds, as an int8 copy serves with parameters fitted on
    float32 scores of other messages. In sample, float32 would be judged at parameters fitted
    on the very rows that judge it, a flattery int8 does not get. A file too small for the
    folds is judged in sample at the version's parameters.
    """

    how: str
    evaluation: EvaluationSet
    settings: ServedSettings
    calibrations: list[Calibration] | None

    def figures(self, matcher: Matcher) -> dict[str, float]:
        if self.calibrations is None:
            measured = measure(
                self.evaluation.scores(matcher),
                self.evaluation.expected,
                self.settings.semantic_weight,
                self.settings.threshold,
                self.settings.reject_margin,
                self.settings.wrong_cost,
            )
        else:
            data = calibration_data(matcher, self.evaluation)
            measured = judged_with(data, self.calibrations, self.settings.wrong_cost)
        return {key: measured[key] for key in FIGURES}


def _judge(
    float32: Float32Reference, evaluation: EvaluationSet, settings: ServedSettings
) -> tuple[_Judge, dict[str, float]]:
    """The judge for this file, and float32's own figures (its cross-validated ones)."""
    reference = cross_validation(float32.data, settings.wrong_cost)
    if reference is None:
        how = "in sample at the version's weight and threshold (too few rows for folds)"
        judge = _Judge(how, evaluation, settings, None)
        return judge, judge.figures(float32.matcher)
    how = (
        f"out of fold ({CV_FOLDS} folds): each fold judged with float32's weight, threshold "
        "and reject margin calibrated on the other folds"
    )
    figures = {key: reference.figures[key] for key in FIGURES}
    return _Judge(how, evaluation, settings, reference.calibrations), figures


def _losses(reference: dict[str, float], int8: dict[str, float]) -> str:
    """What `int8` loses beyond the tolerance, as text; empty when it keeps every figure."""
    return "; ".join(
        f"{key} {int8[key]:.3f} vs {reference[key]:.3f}"
        for key in FIGURES
        if int8[key] < reference[key] - TOLERANCE - 1e-9
    )


def _evaluation(app: Flask, session: Session) -> tuple[EvaluationSet | None, str]:
    eval_file = app.config["BOT_EVAL_FILE"]
    if not eval_file or not Path(eval_file).is_file():
        return None, "no evaluation file to check int8 against (BOT_EVAL_FILE)"
    try:
        return EvaluationSet.load(session, eval_file), ""
    except CsvValidationError as exc:
        return None, f"the evaluation file cannot be used to check int8: {exc}"


def model_inside(model: str, directory: Path) -> str | None:
    """`model`'s path relative to the version directory, None for a model outside it."""
    path = Path(model)
    if not path.is_absolute():
        return None
    try:
        return str(path.resolve().relative_to(Path(directory).resolve()))
    except ValueError:
        return None


def base_export(model: str) -> tuple[Path | None, str | None]:
    """The cached export of base model `model`, made on first use; or None and why not."""
    target = export_cache_dir(model)
    failure = run_export(model, target, shipped_texts(), model, shipped_phrasings())
    if failure is not None:
        logger.warning("%s cannot serve with ONNX Runtime: %s", model, failure)
        return None, failure
    return target, None


def install_base_export(model: str, target: Path) -> str | None:
    """Copy the base model's cached export into `target` (hard links where possible)."""
    source, failure = base_export(model)
    if source is None:
        return failure
    staging = Path(tempfile.mkdtemp(prefix=".serving-", dir=target.parent))
    for file in source.iterdir():
        try:
            os.link(file, staging / file.name)  # the files are never changed in place
        except OSError:
            shutil.copy2(file, staging / file.name)
    staging.chmod(source.stat().st_mode & 0o777)
    replace_directory(staging, target)
    return None


def run_export(
    model: str, out_dir: Path, texts: list[str], source: str, calibration: list[str]
) -> str | None:
    """Export `model` into `out_dir` unless it holds one; None, or why it failed.

    `texts` are checked against torch; `calibration` (phrasings, never the evaluation file)
    calibrate the int8 copy.

    In this process when it has loaded torch already, else in a child process: a web worker
    that meets a version without an export stays free of torch.
    """
    out_dir = Path(out_dir)
    with _lock(out_dir):
        if ServingConfig.read(out_dir) is not None:
            return None
        if "torch" not in sys.modules:
            return _export_in_child(model, out_dir, texts, source, calibration)
        from training.onnx_export.export import export_model

        try:
            export_model(model, out_dir, texts, source, calibration)
        except Exception as exc:  # a model that cannot be exported serves with torch
            logger.warning("exporting %s failed", model, exc_info=True)
            return f"{type(exc).__name__}: {exc}"
    return None


def _export_in_child(
    model: str, out_dir: Path, texts: list[str], source: str, calibration: list[str]
) -> str | None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"texts": texts, "calibration": calibration}, handle)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "training.onnx_export", model, str(out_dir), handle.name]
            + ["--source", source],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return lines[-1] if lines else f"the export exited with status {result.returncode}"
    return None


def _lock(directory: Path) -> FileLock:
    """One export of a directory at a time, across worker processes."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(directory.parent / f".{directory.name}.lock"))


def shipped_texts() -> list[str]:
    """What a base model's export is checked on: the shipped FAQ and evaluation messages."""
    pairs = read_pairs_csv(SHIPPED_DATA / "finbuddy_eval.csv")
    return [p.paraphrase for p in pairs] + shipped_phrasings()


def shipped_phrasings() -> list[str]:
    """What a base model's int8 copy is calibrated on: the shipped FAQs' phrasings and
    training pairs (not the evaluation file)."""
    faqs = read_faq_csv(SHIPPED_DATA / "finbuddy_faq.csv")
    pairs = read_pairs_csv(SHIPPED_DATA / "finbuddy_pairs.csv")
    return [text for faq in faqs for text in (faq.question, *faq.alternates)] + [
        p.paraphrase for p in pairs
    ]
