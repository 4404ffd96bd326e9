"""Helpers for the admin tests: a prepared instance folder, signed-in clients, a live server."""

import pytest

# The helpers assert; have pytest explain their failures like a test's own asserts.
pytest.register_assert_rewrite("admin_browser.support", "admin_browser.server")
