"""`flask evaluate` before and after `flask retrain` on the shipped data, and retrain wall time.

Runs the real CLI in a fresh instance folder, exactly as a user would:

    python bench/retrain_eval.py [--base-model NAME] [-- extra retrain args]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.config import DEFAULT_BASE_MODEL
from training.evaluation import HEADLINE_METRICS as KEYS

ROOT = Path(__file__).resolve().parent.parent
EVAL_FILE = ROOT / "faq_data" / "finbuddy_eval.csv"


def flask(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "flask", "--app", "bot", *args]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def show(label: str, figures: dict) -> None:
    print(
        label, json.dumps({k: round(figures[k], 3) for k in KEYS}), "weights", figures["weights"]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("retrain_args", nargs="*")
    args = parser.parse_args()
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        BOT_BASE_MODEL=args.base_model,
        BOT_INSTANCE_PATH=tempfile.mkdtemp(prefix="faq-retrain-bench-"),
    )
    print(f"base model {args.base_model}, torch threads {os.cpu_count()} cores")
    show("before retrain:", json.loads(flask(env, "evaluate", str(EVAL_FILE), "--json")))
    started = time.perf_counter()
    report = json.loads(
        flask(env, "retrain", "--no-progress", "--json", *args.retrain_args)
        .strip()
        .splitlines()[-1]
    )
    wall = time.perf_counter() - started
    show("after retrain: ", json.loads(flask(env, "evaluate", str(EVAL_FILE), "--json")))
    print(
        "cross-validated after retrain: overall accuracy",
        round(report["after"]["overall_accuracy_cv"], 3),
        "cost",
        round(report["after"]["cost_cv"], 3),
    )
    print(
        f"flask retrain wall time: {wall:.1f}s (training loss "
        f"{report['loss_before']:.3f} -> {report['loss_after']:.3f})"
    )


if __name__ == "__main__":
    main()
