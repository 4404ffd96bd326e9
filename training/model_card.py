"""A sentence-transformers-style model card (README.md) for each model version, offline.

The FinBuddy card reported no evaluation at all; ours always carry the metrics the version was
promoted on, plus loss, hyperparameters and dataset sizes.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from training.evaluation import CV_METRICS


def _version_of(package: str) -> str:
    try:
        return package_version(package)
    except PackageNotFoundError:
        return "not installed"


def _loss_rows(training: dict[str, Any]) -> str:
    """Versions trained before the loss was sampled measured it on every training row."""
    rows, total = training.get("loss_rows"), training.get("n_pairs")
    if not rows or rows == total:
        return "the training set"
    return f"{rows} of the {total} training rows (a seeded sample)"


def _layers(layers: dict[str, int] | None) -> str:
    if not layers or not layers.get("of"):
        return "all"
    if layers["trained"] == layers["of"]:
        return f"all {layers['of']}"
    return (
        f"the top {layers['trained']} of {layers['of']} (the layers below and the embeddings "
        "frozen)"
    )


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _evaluation_table(evaluation: dict[str, Any]) -> list[str]:
    """Cross-validated figures first (the honest ones), in-sample beside them."""
    lines = ["| metric | cross-validated | in-sample |", "|:--|--:|--:|"]
    lines += [
        f"| {key} | {_number(evaluation.get(f'{key}_cv'))} | {_number(evaluation[key])} |"
        for key in CV_METRICS
        if key in evaluation
    ]
    for key in ("corpus_oos_recall", "threshold", "reject_margin", "margin"):
        if key in evaluation:
            cv = evaluation.get(f"{key}_cv")
            lines.append(f"| {key} | {_number(cv)} | {_number(evaluation[key])} |")
    return lines


def _promotion(promotion: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Promotion: {'activated' if promotion['activated'] else 'not activated'} "
        f"({promotion['reason']}).",
    ]
    for check in promotion.get("checks", []):
        lines.append(
            f"- {check['metric']}: candidate {_number(check['candidate'])}, active "
            f"{_number(check['active'])}, tolerance {check['tolerance']} "
            f"({'passed' if check['passed'] else 'failed'})"
        )
    return lines


def render_model_card(name: str, record: dict[str, Any]) -> str:
    """Markdown with YAML front matter; `record` is the version's metrics.json content."""
    evaluation = record.get("eval") or {}
    training = record.get("training") or {}
    hyper = training.get("hyperparameters") or {}
    base_model = record.get("base_model", "unknown")
    lines = [
        "---",
        "tags:",
        "- sentence-transformers",
        "- sentence-similarity",
        "- faq-bot",
        f"- loss:{training.get('loss', 'none (base model, not fine-tuned)')}",
        f"base_model: {base_model}",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "---",
        "",
        f"# FAQ matcher {name}",
        "",
        f"Base model `{base_model}`"
        + (", fine-tuned in the FAQ bot." if record.get("fine_tuned") else ", not fine-tuned."),
        "",
        "## Evaluation",
        "",
        f"Evaluation file: `{record.get('eval_file', 'n/a')}` "
        f"({evaluation.get('n_in_scope', '?')} in-scope, "
        f"{evaluation.get('n_out_of_scope', '?')} out-of-scope messages), plus "
        f"{evaluation.get('n_out_of_scope_examples', 0)} out-of-scope examples in the reject "
        f"class. Fusion weights: {evaluation.get('weights', 'n/a')}. A wrong answer costs "
        f"{evaluation.get('wrong_answer_cost', '?')} fallbacks.",
        "",
    ]
    if evaluation:
        lines += _evaluation_table(evaluation)
    if evaluation.get("calibration"):
        lines += ["", f"Calibration: {evaluation['calibration']}."]
    if record.get("promotion"):
        lines += _promotion(record["promotion"])
    lines += _serving_section(record.get("serving"))
    if training:
        lines += [
            "",
            "## Training details",
            "",
            f"- Loss: {training.get('loss')}"
            + (f" ({training['loss_parameters']})" if training.get("loss_parameters") else ""),
            f"- Recipe: {training.get('recipe', 'mnrl')}",
            f"- Batch sampler: {training.get('batch_sampler', 'default')}",
            f"- Training examples: {training.get('n_pairs')}",
            f"- Steps: {training.get('steps')} on {training.get('device')} "
            f"in {training.get('seconds')} s",
            f"- Layers trained: {_layers(training.get('layers'))}",
            f"- Loss on {_loss_rows(training)}: {_number(training.get('loss_before'))} → "
            f"{_number(training.get('loss_after'))}",
            "",
            "### Hyperparameters",
            "",
        ]
        lines += [f"- `{key}`: {value}" for key, value in sorted(hyper.items())]
    lines += [
        "",
        "## Framework versions",
        "",
        f"- Python: {platform.python_version()}",
        f"- Sentence Transformers: {_version_of('sentence-transformers')}",
        f"- Transformers: {_version_of('transformers')}",
        f"- PyTorch: {_version_of('torch')}",
        f"- FAISS: {_version_of('faiss-cpu')}",
        "",
    ]
    return "\n".join(lines)


IN_SAMPLE = "at this version's weight and threshold"  # how versions before `judged` were checked


def _serving_section(serving: dict[str, Any] | None) -> list[str]:
    """Which encoder the bot serves this version with, and the parity figures behind it."""
    if not serving:
        return []
    lines = ["", "## Serving", "", f"Encoder: `{serving['encoder']}`: {serving['reason']}."]
    figures = serving.get("figures") or {}
    cosine = serving.get("cosine") or {}
    if cosine:
        lines += [
            "",
            f"Figures on the evaluation file, {serving.get('judged', IN_SAMPLE)} (int8 may "
            f"lose at most {serving.get('tolerance')} on each); cosine with torch's embeddings:",
            "",
            "| encoder | acc@1 | oos_recall | overall | min cosine |",
            "|:--|--:|--:|--:|--:|",
        ]
        for kind, similarity in cosine.items():
            row = figures.get(kind, {})
            values = [
                _number(row[key]) if key in row else "n/a"
                for key in ("accuracy_at_1", "oos_recall", "overall_accuracy")
            ]
            lines.append(f"| {kind} | {' | '.join(values)} | {similarity['min_cosine']} |")
    return lines
