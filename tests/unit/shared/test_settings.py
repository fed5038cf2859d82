"""A misconfigured service says what is wrong and how to fix it, in one line, before it touches anything."""

import subprocess
import sys

import pytest

from shared.settings import BaseServiceSettings, load_settings


def start_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "from shared.settings import *; load_settings(BaseServiceSettings); print('started')"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("variable", "value", "advice"),
    [
        ("LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("HTTP_PORT", "99999", "less than or equal to 65535"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka", "is not host:port"),
        ("DATABASE_URL", "mysql://db/x", "use sqlite:///path/to/file.db or postgresql://"),
        ("KAFKA_SSL_CAFILE", "/nowhere/ca.pem", "does not point to a file"),
        ("RETENTION_HOURS", "1", "keep inbox ids at least 24 hours"),
    ],
)
def test_a_bad_value_stops_the_service_with_one_line(variable, value, advice):
    result = start_with({variable: value})
    assert result.returncode == 2
    assert "started" not in result.stdout
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith("contract-pause: configuration error:")
    assert variable in line and advice in line and f"set {variable}" in line


def test_sasl_without_credentials_is_refused():
    result = start_with({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN",
                         "KAFKA_SASL_USERNAME": "svc"})
    assert result.returncode == 2
    assert "needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" in result.stderr


def test_defaults_follow_the_design(monkeypatch):
    for variable in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "KAFKA_SECURITY_PROTOCOL"):
        monkeypatch.delenv(variable, raising=False)
    settings = BaseServiceSettings(service_name="billing-monitor")
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.store_url == "sqlite+onloop:///var/billing-monitor.db"
    assert settings.kafka_security() is None


def test_people_write_plain_database_urls_and_get_async_drivers():
    assert load_settings(BaseServiceSettings, database_url="sqlite:///tmp/x.db").store_url == "sqlite+onloop:///tmp/x.db"
    postgres = load_settings(BaseServiceSettings, database_url="postgresql://u:p@db/cp").store_url
    assert postgres == "postgresql+asyncpg://u:p@db/cp"


def test_sasl_settings_pass_through_to_the_kafka_client():
    settings = BaseServiceSettings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc", kafka_sasl_password="s3cret",
    )
    options = settings.kafka_client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_plain_username"] == "svc" and options["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(settings)
