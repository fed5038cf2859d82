"""Configuration from the environment, checked before anything is touched.

A bad value stops the service with one line naming the variable, what is wrong and how to fix it.
"""

import ssl
import sys
from pathlib import Path
from typing import Any, Literal, TypeVar

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import TokenVerifier
from shared.sqlite_on_loop import SQLITE

S = TypeVar("S", bound="BaseServiceSettings")

# Far beyond any redelivery after a crash or a rebalance (minutes), so an inbox id is never forgotten too soon.
MIN_RETENTION_HOURS = 24.0

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


class BaseServiceSettings(BaseSettings):
    """Settings every service reads; a service subclasses it to add its own and to name itself."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", frozen=True)

    service_name: str = Field(default="contract-pause", exclude=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: FilePath | None = None

    database_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console", "auto"] = "auto"
    http_port: int = Field(default=8080, ge=0, le=65535)
    http_host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    http_api: bool = True
    http_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)

    auth_jwt_secret: SecretStr | None = Field(default=None, min_length=32)
    auth_jwks_file: FilePath | None = None
    auth_audience: str | None = None

    event_time_max_future_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    # How long inbox ids and sent outbox rows are kept (shared.retention); as long as Kafka keeps records by default.
    retention_hours: float = Field(default=7 * 24.0, le=24 * 3650)

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server.strip()!r} is not host:port (e.g. 127.0.0.1:9092, several comma-separated)")
        return value

    @field_validator("retention_hours")
    @classmethod
    def _beyond_redelivery(cls, value: float) -> float:
        if value < MIN_RETENTION_HOURS:
            raise ValueError(f"keep inbox ids at least {MIN_RETENTION_HOURS:g} hours, or a redelivered event "
                             "is applied twice (default 168, seven days)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the URLs people write (`sqlite:///x.db`, `postgresql://…`) and pick the async driver."""
        if value is None:
            return None
        for plain, asynchronous in (("sqlite://", SQLITE), ("sqlite+aiosqlite://", SQLITE),
                                    ("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://")):
            if value.startswith(plain):
                return asynchronous + value[len(plain):]
        if not value.startswith((SQLITE, "postgresql+asyncpg://")):
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user:password@host/db")
        return value

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> "BaseServiceSettings":
        if self.kafka_security_protocol.startswith("SASL"):
            if not (self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password):
                raise ValueError(
                    f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs KAFKA_SASL_MECHANISM, "
                    "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
                )
        return self

    @model_validator(mode="after")
    def _api_needs_a_key(self) -> "BaseServiceSettings":
        if self.http_api and not (self.auth_jwt_secret or self.auth_jwks_file):
            raise ValueError(
                "the HTTP API needs a key to check tokens: set AUTH_JWKS_FILE (production, RS256/ES256) "
                "or AUTH_JWT_SECRET (development, HS256, 32+ characters; `contract-pause run` makes one), "
                "or HTTP_API=false to serve only /health and /metrics"
            )
        return self

    def token_verifier(self) -> TokenVerifier | None:
        if not self.http_api:
            return None
        secret = self.auth_jwt_secret.get_secret_value() if self.auth_jwt_secret else None
        return TokenVerifier.from_files(secret=secret, jwks_file=self.auth_jwks_file, audience=self.auth_audience)

    @property
    def store_url(self) -> str:
        return self.database_url or f"{SQLITE}/{Path('var') / self.service_name}.db"

    def kafka_security(self) -> BaseSecurity | None:
        """The security settings as FastStream takes them; None means plain connections."""
        uses_ssl = self.kafka_security_protocol.endswith("SSL")
        context = ssl.create_default_context(cafile=self.kafka_ssl_cafile) if uses_ssl else None
        if self.kafka_security_protocol.startswith("SASL"):
            secret = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else ""
            sasl = _SASL[self.kafka_sasl_mechanism or "PLAIN"]
            return sasl(self.kafka_sasl_username or "", secret, ssl_context=context, use_ssl=uses_ssl)
        return BaseSecurity(ssl_context=context, use_ssl=True) if uses_ssl else None

    def kafka_client_options(self) -> dict[str, Any]:
        """The same settings as plain aiokafka clients take them (admin, lag probes)."""
        from faststream.kafka.security import parse_security

        return parse_security(self.kafka_security())


def load_settings(settings_class: type[S], **overrides: Any) -> S:
    """Read settings or exit with one clear line on stderr (exit code 2, like a usage error)."""
    try:
        return settings_class(**overrides)
    except ValidationError as error:
        service = settings_class.model_fields["service_name"].default
        print(f"{service}: configuration error: {_one_line(error)}", file=sys.stderr)
        raise SystemExit(2) from None


def _one_line(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False):
        variable = "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        if variable:
            shown = "(hidden)" if "PASSWORD" in variable or "SECRET" in variable else repr(problem.get("input"))
            problems.append(f"{variable}={shown} is invalid: {message}; set {variable} correctly")
        else:
            problems.append(message)
    return "; ".join(problems)
