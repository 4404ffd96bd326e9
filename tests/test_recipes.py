"""Training recipes (mnrl, cosine, triplet) on a tiny model, through the real `flask retrain`.

A small FinBuddy subset keeps each run to seconds; cosine and triplet CSVs are built from it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import SHIPPED_DATA
from bot.db import new_session
from bot.models import ModelVersion
from training.base_model import load_sentence_transformer
from training.batch_sampler import AtLeastTwoNoDuplicatesBatchSampler
from training.mnrl import MAX_OUT_OF_SCOPE_COLUMNS
from training.mnrl import mine_hard_negatives
from training.mnrl import out_of_scope_columns
from training.trainer import fit_batch_size

pytestmark = pytest.mark.slow

QUICK = ["--epochs", "2", "--lr", "2e-3", "--no-progress", "--json"]
N_FAQS = 6


def shipped(name: str) -> list[dict[str, str]]:
    with open(SHIPPED_DATA / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def small_finbuddy(directory: Path, n_faqs: int = N_FAQS, n_pairs: int | None = None) -> dict:
    """App settings seeding the first `n_faqs` FAQs, their pairs and evaluation rows."""
    directory.mkdir(parents=True, exist_ok=True)
    faqs = shipped("finbuddy_faq.csv")[:n_faqs]
    questions = {faq["question"] for faq in faqs}
    if n_pairs is not None:  # tiny mode: no alternates, only the first n_pairs pairs
        faqs = [{**faq, "alternates": ""} for faq in faqs]
    pairs = [row for row in shipped("finbuddy_pairs.csv") if row["question"] in questions]
    if n_pairs is not None:
        pairs = pairs[:: max(1, len(pairs) // n_pairs)][:n_pairs]
    evaluation = shipped("finbuddy_eval.csv")
    in_scope = [row for row in evaluation if row["question"] in questions]
    out_of_scope = [row for row in evaluation if not row["question"]][:4]
    corpus = shipped("finbuddy_oos.csv")[::30]  # 11 examples over every category
    fields = ["question", "answer", "category", "alternates"]
    return {
        "BOT_SEED_FAQ_FILE": str(
            write_csv(directory / "faq.csv", fields, [[f[k] for k in fields] for f in faqs])
        ),
        "BOT_SEED_PAIRS_FILE": str(
            write_csv(
                directory / "pairs.csv",
                ["paraphrase", "question"],
                [[p["paraphrase"], p["question"]] for p in pairs],
            )
        ),
        "BOT_EVAL_FILE": str(
            write_csv(
                directory / "eval.csv",
                ["paraphrase", "question"],
                [[r["paraphrase"], r["question"]] for r in in_scope + out_of_scope],
            )
        ),
        "BOT_SEED_OOS_FILE": str(
            write_csv(
                directory / "oos.csv",
                ["paraphrase", "question"],
                [[r["paraphrase"], ""] for r in corpus],
            )
        ),
    }


def pairs_by_question(n_faqs: int = N_FAQS) -> dict[str, list[str]]:
    questions = [faq["question"] for faq in shipped("finbuddy_faq.csv")[:n_faqs]]
    grouped: dict[str, list[str]] = {question: [] for question in questions}
    for row in shipped("finbuddy_pairs.csv"):
        if row["question"] in grouped:
            grouped[row["question"]].append(row["paraphrase"])
    return grouped


def scored_pairs_csv(path: Path) -> Path:
    """Message vs its own question (1.0), a near FAQ's (0.3) and a far FAQ's (0.0)."""
    grouped = pairs_by_question()
    questions = list(grouped)
    rows: list[list[object]] = []
    for index, question in enumerate(questions):
        for message in grouped[question][:3]:
            rows.append([message, question, 1.0])
            rows.append([message, questions[(index + 1) % len(questions)], 0.3])
            rows.append([message, questions[(index + 3) % len(questions)], 0.0])
    return write_csv(path, ["sentence1", "sentence2", "score"], rows)


def triplets_csv(path: Path) -> Path:
    grouped = pairs_by_question()
    questions = list(grouped)
    rows = [
        [message, question, questions[(index + 1 + n) % len(questions)]]
        for index, question in enumerate(questions)
        for n, message in enumerate(grouped[question][:4])
    ]
    return write_csv(path, ["anchor", "positive", "negative"], rows)


@pytest.fixture
def small_app(make_app, tmp_path):  # noqa: ANN001, ANN201
    return make_app(**small_finbuddy(tmp_path / "data"))


def retrain(app, *args: str) -> dict:  # noqa: ANN001
    result = app.test_cli_runner().invoke(args=["retrain", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def version_record(app, name: str) -> tuple[dict, str]:  # noqa: ANN001
    """The version's metrics.json and model card."""
    with new_session(app) as session:
        version = session.scalars(select(ModelVersion).filter_by(name=name)).one()
        directory = Path(version.path)
    return json.loads((directory / "metrics.json").read_text()), (
        directory / "README.md"
    ).read_text()


def versions(app) -> list[tuple[str, bool]]:  # noqa: ANN001
    with new_session(app) as session:
        return [(v.name, v.active) for v in session.scalars(select(ModelVersion))]


def test_mnrl_recipe_stops_on_the_evaluation_file_and_records_its_recipe(small_app):
    report = retrain(
        small_app,
        "--recipe",
        "mnrl",
        "--scale",
        "25",
        "--warmup-ratio",
        "0",
        "--patience",
        "2",
        *QUICK,
    )
    assert report["loss_after"] < report["loss_before"]
    assert report["recipe"] == "mnrl"
    assert report["early_stopping"] == "on the evaluation file"
    stored, card = version_record(small_app, report["version"])
    training = stored["training"]
    assert training["recipe"] == "mnrl"
    assert training["loss"] == "MultipleNegativesRankingLoss"
    assert training["loss_parameters"]["scale"] == 25
    assert training["loss_parameters"]["similarity_fct"] == "cos_sim"
    assert training["batch_sampler"] == "no_duplicates"
    assert training["hyperparameters"]["warmup_ratio"] == 0
    assert training["hyperparameters"]["patience"] == 2
    assert training["dataset"]["source"] == "database"
    evaluator = training["evaluator"]
    assert evaluator["name"] == "InformationRetrievalEvaluator"
    assert evaluator["metric"].startswith("faq-eval_")
    assert [entry["epoch"] for entry in evaluator["per_epoch"]] == [1.0, 2.0]
    assert evaluator["best_epoch"] in (1.0, 2.0)
    assert "Recipe: mnrl" in card and "'scale': 25" in card


def test_hard_negatives_turn_pairs_into_triplets(small_app):
    report = retrain(small_app, "--hard-negatives", "2", "--patience", "0", *QUICK)
    assert report["loss_after"] < report["loss_before"]
    assert report["early_stopping"] == "off" and report["evaluator"] is None
    dataset = version_record(small_app, report["version"])[0]["training"]["dataset"]
    assert dataset["hard_negatives"] == 2
    assert dataset["n_triplets"] == 2 * dataset["n_pairs"]


def test_out_of_scope_examples_join_every_batch_as_negatives(small_app):
    report = retrain(small_app, "--hard-negatives", "1", *QUICK)
    dataset = version_record(small_app, report["version"])[0]["training"]["dataset"]
    assert dataset["out_of_scope_negatives"] == 11
    assert dataset["out_of_scope_columns"] == 1  # more triplets than examples: one column
    assert dataset["n_triplets"] == dataset["n_pairs"]
    off = retrain(small_app, "--no-oos-negatives", *QUICK)
    dataset = version_record(small_app, off["version"])[0]["training"]["dataset"]
    assert "out_of_scope_negatives" not in dataset


def test_out_of_scope_columns_deal_every_example_as_a_negative_only():
    examples = [f"oos {i}" for i in range(7)]
    columns = out_of_scope_columns(4, examples, seed=1)
    assert list(columns) == ["out_of_scope_1", "out_of_scope_2"]  # 7 examples over 4 rows
    assert all(len(column) == 4 for column in columns.values())
    dealt = [text for column in columns.values() for text in column]
    assert set(dealt) == set(examples)  # every example used (one of them twice)
    assert columns == out_of_scope_columns(4, examples, seed=1)  # seeded
    assert columns != out_of_scope_columns(4, examples, seed=2)
    assert list(out_of_scope_columns(10, examples, seed=1)) == ["out_of_scope_1"]
    many = out_of_scope_columns(2, [f"oos {i}" for i in range(50)], seed=1)
    assert len(many) == MAX_OUT_OF_SCOPE_COLUMNS  # a cap on the cost of each step
    assert out_of_scope_columns(4, [], seed=1) == {}


def test_mined_negatives_are_other_faqs_questions(tiny_bert):
    grouped = pairs_by_question(4)
    pairs = [(message, question) for question, messages in grouped.items() for message in messages]
    triplets = mine_hard_negatives(load_sentence_transformer(str(tiny_bert)), pairs, 5)
    assert len(triplets) == 3 * len(pairs)  # only 3 other FAQs to pick from
    assert all(negative != positive and negative in grouped for _, positive, negative in triplets)


@pytest.mark.parametrize(
    ("loss_option", "loss_name"),
    [([], "CosineSimilarityLoss"), (["--loss", "cosent"], "CoSENTLoss")],
)
def test_cosine_recipe_trains_on_scored_pairs(small_app, tmp_path, loss_option, loss_name):
    data = scored_pairs_csv(tmp_path / "scored.csv")
    args = ["--recipe", "cosine", "--data", str(data), *loss_option, "--epochs", "3"]
    args += ["--patience", "2"]
    report = retrain(small_app, *args, *QUICK[2:])
    evaluator = report["evaluator"]
    assert evaluator["name"] == "EmbeddingSimilarityEvaluator"
    assert evaluator["metric"] == "held-out_spearman_cosine"
    assert evaluator["before"] is not None and evaluator["after"] is not None
    assert (
        report["loss_after"] < report["loss_before"] or evaluator["after"] >= evaluator["before"]
    )
    training = version_record(small_app, report["version"])[0]["training"]
    assert training["recipe"] == "cosine" and training["loss"] == loss_name
    assert training["batch_sampler"] == "batch_sampler"
    assert training["dataset"]["n_rows"] == 3 * 3 * N_FAQS
    assert training["dataset"]["n_train"] + training["dataset"]["n_held_out"] == 3 * 3 * N_FAQS
    assert training["early_stopping"] == f"on the held-out split of {data}"


def test_triplet_recipe_trains_with_mnrl_and_triplet_accuracy(small_app, tmp_path):
    data = triplets_csv(tmp_path / "triplets.csv")
    report = retrain(small_app, "--recipe", "triplet", "--data", str(data), *QUICK)
    evaluator = report["evaluator"]
    assert evaluator["name"] == "TripletEvaluator"
    assert evaluator["metric"] == "held-out_cosine_accuracy"
    assert 0.0 <= evaluator["before"] <= 1.0 and 0.0 <= evaluator["after"] <= 1.0
    assert (
        report["loss_after"] < report["loss_before"] or evaluator["after"] >= evaluator["before"]
    )
    training = version_record(small_app, report["version"])[0]["training"]
    assert training["recipe"] == "triplet"
    assert training["loss"] == "MultipleNegativesRankingLoss"
    assert training["batch_sampler"] == "no_duplicates"
    assert set(training["dataset"]) >= {"n_train", "n_held_out", "held_out_lines"}


def test_seven_pairs_train_with_a_batch_shrunk_to_the_distinct_positives(make_app, tmp_path):
    app = make_app(**small_finbuddy(tmp_path / "tiny", n_faqs=3, n_pairs=7))
    report = retrain(app, "--epochs", "3", "--lr", "2e-3", "--no-progress", "--json")
    assert report["loss_after"] < report["loss_before"]
    training = version_record(app, report["version"])[0]["training"]
    assert training["n_pairs"] == 7
    assert training["hyperparameters"]["batch_size"] == 16
    assert training["hyperparameters"]["effective_batch_size"] == 3
    assert training["steps"] >= 3


def test_the_no_duplicates_sampler_never_yields_a_batch_of_one():
    from datasets import Dataset

    positives = ["a", "a", "a", "b", "b", "c", "c"]
    dataset = Dataset.from_dict({"anchor": [f"m{i}" for i in range(7)], "positive": positives})
    batch_size = fit_batch_size(16, positives)
    assert batch_size == 3
    sampler = AtLeastTwoNoDuplicatesBatchSampler(dataset, batch_size, drop_last=False, seed=1)
    for epoch in range(10):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert batches and all(len(batch) >= 2 for batch in batches)
        for batch in batches:
            assert len({positives[i] for i in batch}) == len(batch)
    with pytest.raises(ValueError, match="at least 2 different positives"):
        fit_batch_size(16, ["a", "a"])


def test_early_stopping_stops_when_the_metric_does_not_improve(small_app):
    # A learning rate of 1e-12 leaves float32 weights as they were: the metric cannot improve.
    report = retrain(
        small_app, "--epochs", "4", "--patience", "1", "--lr", "1e-12", "--no-progress", "--json"
    )
    training = version_record(small_app, report["version"])[0]["training"]
    assert training["epochs_trained"] == 2.0
    assert training["evaluator"]["best_epoch"] == 1.0
    assert len(training["evaluator"]["per_epoch"]) == 2


MALFORMED = {
    "bad-score": (
        "cosine",
        "sentence1,sentence2,score\na,b,0.5\nc,d,banyak\ne,f,1.5\ng,h,1\ni,j,0\n",
        ["line 3, column 'score'", "line 4, column 'score'"],
    ),
    "missing-column": (
        "cosine",
        "sentence1,sentence2\na,b\nc,d\ne,f\ng,h\n",
        ["line 1, column 'score': required column is missing"],
    ),
    "bad-triplets": (
        "triplet",
        "anchor,positive,negative\na,b,c\nd,e,\nf,g,G\nh,i,j\n",
        [
            "line 3, column 'negative': must not be empty",
            "line 4, column 'negative': is the same text as the positive",
        ],
    ),
    "short-row": ("triplet", "anchor,positive,negative\na,b,c\nd,e\n", ["line 3: expected 3"]),
    "too-few-rows": ("triplet", "anchor,positive,negative\na,b,c\nd,e,f\n", ["at least 4"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_data_file_is_rejected_whole_and_changes_nothing(small_app, tmp_path, case):
    recipe, text, problems = MALFORMED[case]
    runner = small_app.test_cli_runner()
    runner.invoke(args=["ask", "halo"])  # bootstraps v1
    models = Path(small_app.instance_path) / "models"
    before = sorted(path.name for path in models.iterdir())
    data = tmp_path / "bad.csv"
    data.write_text(text, encoding="utf-8")

    result = runner.invoke(args=["retrain", "--recipe", recipe, "--data", str(data)])

    assert result.exit_code == 1
    for problem in problems:
        assert problem in result.output
    assert versions(small_app) == [("v1", True)]
    assert sorted(path.name for path in models.iterdir()) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recipe", "cosine"], "needs a data file"),
        (["--hard-negatives", "2", "--recipe", "triplet", "--data", "{data}"], "mnrl recipe only"),
        (["--oos-negatives", "--recipe", "triplet", "--data", "{data}"], "mnrl recipe only"),
        (["--loss", "cosent"], "trains with mnrl"),
        (["--data", "{data}"], "not a data file"),
    ],
)
def test_options_that_do_not_fit_the_recipe_are_refused(small_app, tmp_path, args, message):
    data = triplets_csv(tmp_path / "triplets.csv")
    args = [arg.format(data=data) for arg in args]
    result = small_app.test_cli_runner().invoke(args=["retrain", *args])
    assert result.exit_code == 1
    assert message in result.output
