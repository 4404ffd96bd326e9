"""Fixtures and helpers shared by tests/test_admin*.py (`pytest_plugins` loads them there).

Building the FinBuddy index and calibrating it takes seconds, so it is done once per test
session in a template instance folder that each test copies.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from harness import Databases
from harness import app_config
from harness import close_app
from harness import database_name
from sqlalchemy import select
from sqlalchemy import update

from bot import create_app
from bot.admin.auth import create_admin
from bot.admin.reindex import reindexer
from bot.db import new_session
from bot.models import ModelVersion
from bot.serving import serving

USERNAME = "admin"
PASSWORD = "correct horse battery"
# The tiny random test model finds every pair of sentences fairly similar; only near copies
# should count as near duplicates or share an inbox cluster.
TEST_CONFIG = {"ADMIN_NEAR_DUPLICATE": 0.985, "ADMIN_CLUSTER_SIMILARITY": 0.97}
_TOKEN = re.compile(r'<input[^>]*name="(?:[\w-]*-)?csrf_token"[^>]*value="([^"]+)"')
_TOKEN_FIRST = re.compile(r'<input[^>]*value="([^"]+)"[^>]*name="(?:[\w-]*-)?csrf_token"')


@dataclass(frozen=True)
class Template:
    instance: Path
    database_url: str | None  # None: the SQLite file inside the instance folder


@pytest.fixture(scope="session")
def template_instance(
    tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path, databases: Databases | None
) -> Template:
    """Seeded database, model version v1 with its index, and one admin account."""
    instance = tmp_path_factory.mktemp("admin-template") / "instance"
    database_url = databases.create() if databases is not None else None
    app = create_app({**app_config(instance, tiny_bert, database_url), **TEST_CONFIG})
    with app.app_context(), new_session(app) as session:
        serving(app).current(session)
        create_admin(session, USERNAME, PASSWORD)
    close_app(app)
    return Template(instance, database_url)


def app_on_copy(
    template: Template,
    instance: Path,
    tiny_bert: Path,
    databases: Databases | None,
    **overrides: object,
) -> Flask:
    """An app on a copy of the template instance (and database), its model paths moved along."""
    shutil.copytree(template.instance, instance)
    database_url = None
    if databases is not None and template.database_url is not None:
        database_url = databases.create(template=database_name(template.database_url))
    app = create_app({**app_config(instance, tiny_bert, database_url), **TEST_CONFIG, **overrides})
    with new_session(app) as session:
        for version in session.scalars(select(ModelVersion)):
            moved = str(instance / Path(version.path).relative_to(template.instance))
            session.execute(
                update(ModelVersion).where(ModelVersion.id == version.id).values(path=moved)
            )
        session.commit()
    return app


@pytest.fixture
def make_admin_app(
    template_instance: Template, tmp_path: Path, tiny_bert: Path, databases: Databases | None
) -> Callable[..., Flask]:
    """Build an app on a fresh copy of the template instance (config overrides allowed)."""
    built: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        instance = tmp_path / f"instance-{len(built)}"
        app = app_on_copy(template_instance, instance, tiny_bert, databases, **overrides)
        built.append(app)
        return app

    yield factory
    for app in built:  # no background rebuild may outlive its temporary folder
        reindexer(app).wait(timeout=120)
        close_app(app)


@pytest.fixture
def admin_app(make_admin_app: Callable[..., Flask]) -> Flask:
    return make_admin_app()


@pytest.fixture
def visitor(admin_app: Flask) -> FlaskClient:
    """A test client that has not signed in."""
    return admin_app.test_client()


@pytest.fixture
def admin(admin_app: Flask) -> FlaskClient:
    """A test client signed in as the admin."""
    client = admin_app.test_client()
    login(client)
    return client


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html) or _TOKEN_FIRST.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def token(client: FlaskClient, url: str = "/admin/test") -> str:
    """A valid CSRF token for the client's session (taken from a page, as a browser would)."""
    response = client.get(url)
    return csrf_token(response.get_data(as_text=True))


def login(client: FlaskClient, username: str = USERNAME, password: str = PASSWORD) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page), "username": username, "password": password},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def post(client: FlaskClient, url: str, data: dict | None = None, **kwargs: object):  # noqa: ANN201
    """POST as the signed-in browser would: with the session's CSRF token."""
    return client.post(url, data={"csrf_token": token(client), **(data or {})}, **kwargs)


def settle(app: Flask) -> None:
    """Wait until every index rebuild asked for so far is served."""
    assert reindexer(app).wait(timeout=120), "index rebuild did not finish"
    assert reindexer(app).last_error is None, reindexer(app).last_error
    assert serving(app).sync(timeout=120), "the new index is not served"
