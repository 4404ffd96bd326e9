"""Several hosts, one database, one model store: each host fetches the versions it serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.model_store import MARKER
from bot.model_store import ModelStore
from bot.model_store import ModelStoreError
from bot.serving import serving

QUICK = ["--force", "--epochs", "1", "--max-steps", "3", "--lr", "2e-3", "--no-progress"]
PROBES = ["Apa itu mode mewah?", "dashboard kosong knp", "cuaca besok gimana"]


@pytest.fixture
def host(make_app, tmp_path, database_url):  # noqa: ANN001, ANN201
    """Apps with instance folders of their own (their own models/) on one shared database."""
    shared_database = database_url or f"sqlite:///{tmp_path / 'shared.db'}"

    def build(name: str, store: Path | None):  # noqa: ANN202
        return make_app(
            BOT_INSTANCE_PATH=str(tmp_path / name),
            DATABASE_URL=shared_database,
            BOT_MODEL_STORE=str(store) if store else None,
        )

    return build


def answers(app) -> list[tuple]:  # noqa: ANN001
    assert serving(app).sync(timeout=120)
    client = app.test_client()
    replies = [client.post("/api/chat", json={"message": m}).get_json() for m in PROBES]
    return [(r["faq_id"], round(r["score"], 4), r["model_version"]) for r in replies]


@pytest.mark.slow
def test_a_second_host_fetches_every_version_it_serves(tmp_path, host):
    store = tmp_path / "store"
    first = host("host-a", store)
    assert (store / "v1" / MARKER).is_file()  # published by the first init
    second = host("host-b", store)
    assert (Path(second.instance_path) / "models" / "v1" / "metrics.json").is_file()
    assert answers(second) == answers(first)

    result = first.test_cli_runner().invoke(args=["retrain", *QUICK, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["version"] == "v2"
    served = answers(second)  # the second host fetched v2 when it saw it activated
    assert {version for *_, version in served} == {"v2"}
    assert (Path(second.instance_path) / "models" / "v2" / "model").is_dir()
    assert served == answers(first)


def test_a_host_without_the_store_says_what_to_configure(tmp_path, host):
    host("host-a", tmp_path / "store")
    with pytest.raises(ModelStoreError, match="no BOT_MODEL_STORE is set"):
        host("host-b", None)


def test_a_version_is_fetched_only_once_it_is_wholly_published(tmp_path):
    store = ModelStore(str(tmp_path / "store"))
    made = tmp_path / "made" / "v7"
    (made / "model").mkdir(parents=True)
    (made / "model" / "weights.bin").write_bytes(b"\0" * 1024)
    (made / "metrics.json").write_text("{}")
    (made / "index-onnx").mkdir()
    (made / "index-onnx" / "semantic.faiss").write_text("host-local")
    half = tmp_path / "store" / "v7" / "model"
    half.mkdir(parents=True)
    (half / "weights.bin").write_bytes(b"\0" * 10)  # an upload that stopped half way
    with pytest.raises(ModelStoreError, match="not in the store"):
        store.fetch("v7", tmp_path / "host" / "v7")
    store.publish("v7", made)
    fetched = store.fetch("v7", tmp_path / "host" / "v7")
    assert (fetched / "model" / "weights.bin").read_bytes() == b"\0" * 1024
    assert not (fetched / "index-onnx").exists()  # indexes are rebuilt per host, never shared
