"""Smoke runs of the benchmarks: each at a tiny size on the session's broker, so none rots."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "benchmark: a tiny-size smoke run of a script under benchmarks/")
