"""The development key of `contract-pause run` and the tokens made with it (`contract-pause token`, the demo).

In production the identity provider signs tokens and services check them against AUTH_JWKS_FILE. On one
machine, `run` hands its services an HS256 secret instead: AUTH_JWT_SECRET when set, else a random one
kept in a file only its owner can read, so tokens minted in another terminal are accepted.
"""

import os
import re
import secrets
import stat
from datetime import timedelta
from pathlib import Path

from ops.kafka_local import cache_root
from shared.auth import Role, mint

SECRET_FILE_NAME = "dev-jwt-secret"
MIN_SECRET_CHARS = 32
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class NoSecret(LookupError):
    pass


def secret_file() -> Path:
    return cache_root() / SECRET_FILE_NAME


def ensure_secret() -> str:
    """The secret `run` gives its services: AUTH_JWT_SECRET, else the kept one, else a new one kept."""
    configured = os.environ.get("AUTH_JWT_SECRET")
    if configured:
        return configured
    kept = _read_kept()
    if kept is not None:
        return kept
    secret = secrets.token_urlsafe(48)
    path = secret_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret)
    os.replace(temporary, path)
    return secret


def current_secret() -> str:
    """The secret tokens are minted with: AUTH_JWT_SECRET, else the one `run` keeps."""
    secret = os.environ.get("AUTH_JWT_SECRET") or _read_kept()
    if secret is None:
        raise NoSecret(f"no development key: set AUTH_JWT_SECRET or start `contract-pause run` once "
                       f"(it keeps one in {secret_file()})")
    return secret


def _read_kept() -> str | None:
    """The kept secret, unless it is missing, too short, or readable by others (then it is no secret)."""
    path = secret_file()
    try:
        status = path.stat()
        secret = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    private = stat.S_IMODE(status.st_mode) & 0o077 == 0 and status.st_uid == os.getuid()
    return secret if private and len(secret) >= MIN_SECRET_CHARS else None


def parse_ttl(text: str) -> timedelta:
    """`8h`, `30m`, `90s`, `2d`, `1h30m`: how long a token lasts."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or "".join(f"{amount}{unit}" for amount, unit in parts) != text.strip().lower():
        raise ValueError(f"{text!r} is not a duration like 8h, 30m, 90s, 2d or 1h30m")
    seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)
    if not 0 < seconds <= 30 * 86400:
        raise ValueError(f"{text!r}: a token lasts more than nothing and at most 30d")
    return timedelta(seconds=seconds)


def token(subject: str, role: Role, ttl: timedelta = timedelta(hours=8)) -> str:
    """A development token for `subject` in `role`, for AUTH_AUDIENCE when that is set."""
    return mint(current_secret(), subject, role, ttl=ttl, audience=os.environ.get("AUTH_AUDIENCE") or None)


def headers(subject: str, role: Role, ttl: timedelta = timedelta(minutes=10)) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(subject, role, ttl)}"}
