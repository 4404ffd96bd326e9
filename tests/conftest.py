"""Fixtures: a real app on a temporary database, a tiny locally built BERT, the real CLI."""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # an accidental download fails fast instead of hanging
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers share the cores: one thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from harness import BACKEND  # noqa: E402
from harness import SERVER_URL  # noqa: E402
from harness import Databases  # noqa: E402
from harness import app_config  # noqa: E402
from harness import close_app  # noqa: E402

from bot import create_app  # noqa: E402
from bot.config import SHIPPED_DATA  # noqa: E402


def shipped_texts() -> list[str]:
    texts: list[str] = []
    for name in ("finbuddy_faq.csv", "finbuddy_pairs.csv", "finbuddy_eval.csv"):
        with open(SHIPPED_DATA / name, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                texts.extend(row)
    return texts


def wordpiece_vocabulary(texts: list[str], size: int) -> list[str]:
    """A WordPiece vocabulary from the texts, the same in every process.

    (tokenizers' trainer breaks frequency ties differently from run to run, which made the
    tiny model, and every figure measured with it, change between test sessions.)
    """
    words = Counter(word for text in texts for word in re.findall(r"\w+|[^\w\s]", text.lower()))
    characters = sorted({character for word in words for character in word})
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters]
    pieces += [f"##{character}" for character in characters]
    known = set(pieces)
    for word, _count in sorted(words.items(), key=lambda item: (-item[1], item[0])):
        if len(pieces) >= size:
            break
        if word not in known:
            known.add(word)
            pieces.append(word)
    return pieces


def build_tiny_bert(directory: Path) -> Path:
    """A plain Hugging Face BertModel (no pooling config), like indobert-base-p1 but tiny.

    Its WordPiece vocabulary is made from the FAQ text, so nothing is downloaded.
    """
    import torch
    from transformers import BertConfig
    from transformers import BertModel
    from transformers import BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocabulary = wordpiece_vocabulary(shipped_texts(), size=800)
    (directory / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(directory / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One converted embedded model per test run, never the user's own cache.

    The xdist workers share it (in the run's base folder, the parent of each worker's own):
    the conversion's lock lets one convert while the others wait, and the run keeps one
    copy of a 470 MB model instead of one per worker.
    """
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "model-cache"
    cache.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOT_MODEL_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases | None]:
    """PostgreSQL databases per test when BOT_TEST_DATABASE_URL names a server, else None."""
    if BACKEND != "postgresql":
        yield None
        return
    made = Databases(SERVER_URL)
    yield made
    made.drop_all()


@pytest.fixture
def database_url(databases: Databases | None) -> Iterator[str | None]:
    """This test's own database URL; None means the SQLite file in the instance folder."""
    if databases is None:
        yield None
        return
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture
def make_app(tmp_path: Path, tiny_bert: Path, database_url: str | None):  # noqa: ANN201
    """Build apps on one temporary instance folder and this test's database."""
    built = []

    def factory(**overrides: object):  # noqa: ANN202
        config = app_config(tmp_path / "instance", tiny_bert, database_url)
        config.update(overrides)
        built.append(create_app(config))
        return built[-1]

    yield factory
    for app in built:  # stop its watcher and close its pool, so the database can be dropped
        close_app(app)


@pytest.fixture
def app(make_app):  # noqa: ANN001, ANN201
    return make_app()


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    return app.test_client()


@pytest.fixture
def runner(app):  # noqa: ANN001, ANN201
    return app.test_cli_runner()
