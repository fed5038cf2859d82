"""Every test here runs a service's store on a real PostgreSQL server (see tests/postgres.py)."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_database" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
