"""`contract-pause acls --apply` with the services' KAFKA_* settings, on the secured broker."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.acls import acl_bindings

pytestmark = pytest.mark.kafka

REPO = Path(__file__).parents[3]


def _acls_apply(kafka, user: str, **settings: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **kafka.client_environment(user), **settings}
    return subprocess.run([sys.executable, "-m", "ops.cli", "acls", "--apply", "--input-writer", "producer"],
                          env=environment, cwd=REPO, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_the_admin_applies_the_registry_acls_again_without_harm(secured_kafka):
    applied = _acls_apply(secured_kafka, "admin")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [str(binding) for binding in acl_bindings(["producer"])]
    assert f"applied {len(acl_bindings(['producer']))} ACLs" in applied.stderr


def test_a_service_principal_may_not_change_acls_and_is_told_so_in_one_line(secured_kafka):
    refused = _acls_apply(secured_kafka, "billing-monitor")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
    assert "refused" in refused.stderr and "ClusterAuthorizationFailedError" in refused.stderr
    assert secured_kafka.password("billing-monitor") not in refused.stderr + refused.stdout


def test_a_wrong_admin_password_ends_with_a_line_naming_the_settings(secured_kafka):
    refused = _acls_apply(secured_kafka, "admin", KAFKA_SASL_PASSWORD="not-the-password")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and "Authentication failed" in refused.stderr  # aiokafka's line
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("contract-pause acls: could not connect and log in") and "KAFKA_SASL_" in last
    assert "not-the-password" not in refused.stderr
