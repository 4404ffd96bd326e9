"""`flask evaluate` before and after `flask retrain` on the shipped data, and retrain's time.

Runs the real CLI in fresh instance folders, exactly as a user would:

    python bench/retrain_eval.py [--base-model NAME] [--compare] [-- extra retrain args]

`--compare` retrains twice in the same run, in fresh instances: first training every layer
(`--trained-layers 0`, as retrain did before it trained only the top four), then with the
defaults, so both times are taken under the same load. Each retrain's instance folder is printed
and removed at the end; with `BENCH_KEEP=1` it is kept, and `bench/encoder_parity.py --instance
DIR` measures its encoders.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import load_average
from common import scratch_dir

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


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def retrain_once(base_model: str, retrain_args: list[str]) -> None:
    instance = scratch_dir("faq-retrain-bench-")
    env = dict(os.environ, HF_HUB_OFFLINE="1", BOT_BASE_MODEL=base_model)
    env["BOT_INSTANCE_PATH"] = instance
    print(f"--- retrain {' '.join(retrain_args) or '(defaults)'} in {instance}")
    flask(env, "init")  # migrate, seed, first version: what a new user runs first
    show("before retrain:", json.loads(flask(env, "evaluate", str(EVAL_FILE), "--json")))
    started, cpu = time.perf_counter(), children_cpu_seconds()
    output = flask(env, "retrain", "--no-progress", "--json", *retrain_args)
    wall, cpu = time.perf_counter() - started, children_cpu_seconds() - cpu
    report = json.loads(output.strip().splitlines()[-1])
    show("after retrain: ", json.loads(flask(env, "evaluate", str(EVAL_FILE), "--json")))
    metrics = json.loads(
        (Path(instance) / "models" / report["version"] / "metrics.json").read_text()
    )
    serving = metrics["serving"]
    after = report["after"]
    print(
        f"cross-validated: acc@1 {after['accuracy_at_1_cv']:.3f}, overall accuracy "
        f"{after['overall_accuracy_cv']:.3f}, oos_recall {after['oos_recall_cv']:.3f}, "
        f"cost {after['cost_cv']:.3f}, corpus oos_recall {after['corpus_oos_recall_cv']:.3f}"
    )
    print(
        f"flask retrain: {wall:.1f} s wall, {cpu:.1f} s CPU; of which training "
        f"{metrics['training']['seconds']} s (loss {report['loss_before']:.3f} -> "
        f"{report['loss_after']:.3f}); {load_average()}"
    )
    print(
        f"serves with {serving['encoder']}: {serving['reason']}; figures {serving.get('figures')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--compare", action="store_true", help="also with --trained-layers 0")
    parser.add_argument("retrain_args", nargs="*")
    args = parser.parse_args()
    print(f"base model {args.base_model}, {os.cpu_count()} cores")
    if args.compare:
        retrain_once(args.base_model, ["--trained-layers", "0", *args.retrain_args])
    retrain_once(args.base_model, args.retrain_args)


if __name__ == "__main__":
    main()
