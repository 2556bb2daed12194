"""Shared fixtures: an app per test with its own temporary database, a client, a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import create_app

FIXTURES = Path(__file__).parent / "fixtures"


def make_config(tmp_path: Path, **extra) -> dict:
    """Return a test configuration whose every file lives under tmp_path."""
    return {
        "TESTING": True,
        "DATABASE": str(tmp_path / "var" / "waymark.db"),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        **extra,
    }


@pytest.fixture
def app(tmp_path):
    """The app with the shipped flow library."""
    app = create_app(make_config(tmp_path))
    yield app
    app.extensions["waymark"].store.close()


@pytest.fixture
def small_app(tmp_path):
    """The app with the small fixture library under tests/fixtures, for engine and HTTP mechanics."""
    app = create_app(make_config(tmp_path, FLOWS_DIR=str(FIXTURES / "flows"), LOCALES_DIR=str(FIXTURES / "locales")))
    yield app
    app.extensions["waymark"].store.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
