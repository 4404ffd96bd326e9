"""The out-of-scope table: zero-shot and after `flask retrain`, without and with the reject class,
and with the out-of-scope examples as training negatives; answer() p50 without and with the
reject class, in one run.

    python bench/out_of_scope.py [--skip-retrain] [--repeats 200] [--base-model NAME]

Every figure is on the evaluation file (BOT_EVAL_FILE); "cv" = cross-validated (every message
judged with weight, threshold and reject margin calibrated on the other folds of the file and
of the out-of-scope examples), "in" = in-sample (calibrated and measured on the same rows).
"""

from __future__ import annotations

import argparse
import os
import time

from common import percentiles
from common import temp_app

from bot.config import DEFAULT_BASE_MODEL

COLUMNS = ("accuracy_at_1", "oos_recall", "overall_accuracy", "cost")


def figures_of(app, version_name: str, use_reject_class: bool) -> dict:  # noqa: ANN001
    """Calibrate the version on the evaluation file plus the out-of-scope examples."""
    from bot.db import new_session
    from bot.evaluation_set import EvaluationSet
    from bot.evaluation_set import calibrate_and_measure
    from bot.evaluation_set import calibration_data
    from bot.indexing import matcher_for
    from bot.versions import find_version

    with app.app_context(), new_session(app) as session:
        matcher = matcher_for(session, find_version(session, version_name))
        evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
        data = calibration_data(matcher, evaluation)
        return calibrate_and_measure(
            data, app.config["BOT_WRONG_ANSWER_COST"], use_reject_class=use_reject_class
        )[1]


def row(label: str, figures: dict) -> str:
    cells = [
        f"{figures[f'{key}_cv']:.3f} / {figures[key]:.3f}"
        if figures[f"{key}_cv"] is not None
        else f"– / {figures[key]:.3f}"
        for key in COLUMNS
    ]
    return f"| {label} | " + " | ".join(cells) + " |"


def retrained(app, oos_negatives: bool) -> tuple[str, float]:  # noqa: ANN001
    """`flask retrain` with the default recipe, the out-of-scope negatives on or off."""
    from bot.db import new_session
    from bot.retrain import retrain
    from training.recipes import Recipe
    from training.trainer import TrainingConfig

    started = time.perf_counter()
    with app.app_context(), new_session(app) as session:
        report = retrain(
            app,
            session,
            TrainingConfig(progress_bar=False),
            force=True,
            recipe=Recipe(oos_negatives=oos_negatives),
        )
    return report.version_name, time.perf_counter() - started


def latency(with_reject, without_reject, repeats: int) -> dict:  # noqa: ANN001
    """answer() p50/p99 of both apps, calls interleaved so load changes hit both alike."""
    from bot.answering import answer

    messages = [
        "min, dashboard aku kosong knp ya",
        "gmn cara masukin gaji bulanan",
        "bisa dipake offline gak sih",
        "cuaca jakarta hari ini gimana",
        "transfer ke bni kena biaya brp",
    ]
    samples: dict[str, list[float]] = {"with": [], "without": []}
    apps = {"with": with_reject, "without": without_reject}
    for app in apps.values():
        with app.app_context():
            for text in messages:
                answer(text, channel="bench")  # load the model and index, warm up
    for turn in range(repeats):
        for name, app in apps.items():
            with app.app_context():
                started = time.perf_counter()
                answer(messages[turn % len(messages)], channel="bench")
                samples[name].append((time.perf_counter() - started) * 1000)
    return {name: percentiles(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--skip-retrain", action="store_true")
    args = parser.parse_args()
    print(f"base model {args.base_model}; load average {os.getloadavg()}")

    app = temp_app(BOT_BASE_MODEL=args.base_model)
    bare = temp_app(BOT_BASE_MODEL=args.base_model, BOT_SEED_OOS_FILE="")
    timings = latency(app, bare, args.repeats)
    print(f"answer() with the reject class:    {timings['with']}")
    print(f"answer() without the reject class: {timings['without']}")
    slower = timings["with"]["p50_ms"] / timings["without"]["p50_ms"] - 1
    print(f"p50 {slower:+.1%} with the reject class; load average {os.getloadavg()}")

    header = "| | " + " | ".join(f"{key} cv / in" for key in COLUMNS) + " |"
    lines = [header, "|---" * (len(COLUMNS) + 1) + "|"]
    versions = [("zero-shot", "v1")]
    if not args.skip_retrain:
        for label, negatives in (("after retrain", False), ("after retrain + negatives", True)):
            name, seconds = retrained(app, oos_negatives=negatives)
            print(f"{label}: {name} in {seconds:.0f} s; load average {os.getloadavg()}")
            versions.append((label, name))
    for label, name in versions:
        for reject in (False, True):
            suffix = "reject class" if reject else "no reject class"
            figures = figures_of(app, name, reject)
            lines.append(row(f"{label}, {suffix}", figures))
    print("\n".join(lines))
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
