"""Fixtures for tests of one service against the real broker and its own store."""

from collections.abc import Callable
from pathlib import Path

import pytest

from shared.settings import BaseServiceSettings
from tests.postgres import postgres_database, postgres_url  # noqa: F401 - fixtures of the PostgreSQL tests


@pytest.fixture
def settings_for(registry_topics: str, tmp_path: Path) -> Callable[..., BaseServiceSettings]:
    """Settings of a service under test: the test broker and a fresh SQLite file per test
    (call it again with the same `database` name to restart on the same state)."""

    def make(settings_class: type[BaseServiceSettings], database: str = "store", **overrides) -> BaseServiceSettings:
        return settings_class(
            kafka_bootstrap_servers=registry_topics,
            database_url=f"sqlite:///{tmp_path / database}.db",
            **overrides,
        )

    return make
