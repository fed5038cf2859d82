"""Where `run --instances` and the PostgreSQL tests find the server binaries, and what they say without them."""

from pathlib import Path

import pytest

from ops import postgres_local


def _binaries(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for name in ("initdb", "postgres"):
        (directory / name).write_text("#!/bin/sh\n")
        (directory / name).chmod(0o755)
    return directory


@pytest.fixture
def no_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(postgres_local, "DEBIAN_BIN_DIRS", str(tmp_path / "lib" / "postgresql" / "*" / "bin"))
    return tmp_path


def test_binaries_on_path_come_first(no_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _binaries(no_path / "bin")
    _binaries(no_path / "lib" / "postgresql" / "16" / "bin")
    monkeypatch.setenv("PATH", str(on_path))
    assert postgres_local.server_binaries() == (str(on_path / "initdb"), str(on_path / "postgres"))


def test_else_the_newest_debian_version_directory(no_path: Path) -> None:
    for version in ("9.6", "15", "16"):
        _binaries(no_path / "lib" / "postgresql" / version / "bin")
    newest = no_path / "lib" / "postgresql" / "16" / "bin"
    assert postgres_local.server_binaries() == (str(newest / "initdb"), str(newest / "postgres"))


def test_without_a_server_one_line_says_how_to_install_it(no_path: Path) -> None:
    assert postgres_local.server_binaries() is None
    reason = postgres_local.missing_reason()
    assert reason is not None and len(reason.splitlines()) == 1
    assert "apt-get install postgresql" in reason

