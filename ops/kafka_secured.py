"""What makes a LocalKafka secured: certificates, SCRAM users and their passwords, the SASL_SSL
listener, and the client settings that log in to it.

The client listener is SASL_SSL (SCRAM-SHA-512) with a CA and broker certificate made for the run,
ACLs are enforced (StandardAuthorizer) and `admin` is a super user; every password is random, lives
in the broker's directory and in the LocalKafka object, and is never printed.
"""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SECURED_PROTOCOL = "SASL_SSL"
SCRAM_MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "admin"  # super user of a secured broker: creates topics, manages ACLs
CONTROLLER_USER = "controller"  # the broker's own login on its controller listener
_CERTIFICATE_DAYS = 7


class CertificateError(RuntimeError):
    """keytool could not make the run's CA or broker certificate."""


def new_passwords(users: Iterable[str]) -> dict[str, str]:
    return {name: secrets.token_urlsafe(24) for name in users}


def scram_arguments(passwords: dict[str, str]) -> str:
    """StorageTool format arguments giving every user but the controller its SCRAM credential."""
    return "".join(
        f"--add-scram\n{SCRAM_MECHANISM}=[name={name},password={password}]\n"
        for name, password in passwords.items() if name != CONTROLLER_USER
    )


def security_properties(host: str, port: int, controller: int, tls: Path, passwords: dict[str, str]) -> dict[str, str]:
    """Clients: SASL_SSL with SCRAM-SHA-512 and ACLs. The controller listener stays on the
    loopback host with SASL/PLAIN and a user only the broker itself knows (SCRAM credentials
    live in the metadata log, which the controller serves, so it cannot check SCRAM)."""
    admin, controller_password = passwords[ADMIN_USER], passwords[CONTROLLER_USER]
    return {
        "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller}",
        "advertised.listeners": f"SASL_SSL://{host}:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            f'org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{ADMIN_USER}" password="{admin}";',
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config":
            f'org.apache.kafka.common.security.plain.PlainLoginModule required '
            f'username="{CONTROLLER_USER}" password="{controller_password}" '
            f'user_{CONTROLLER_USER}="{controller_password}";',
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls / "broker.p12"),
        "ssl.keystore.password": _read_secret(tls / "broker.pass"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls / "ca.pem"),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN_USER};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found": "false",
    }


def client_options(user: str, password: str, ca_file: Path) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients logging in as `user`."""
    return {
        "security_protocol": SECURED_PROTOCOL,
        "sasl_mechanism": SCRAM_MECHANISM,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "ssl_context": ssl.create_default_context(cafile=str(ca_file)),
    }


def client_environment(user: str, password: str, ca_file: Path) -> dict[str, str]:
    """The KAFKA_* variables besides the bootstrap servers a service (shared.settings) needs to log in as `user`."""
    return {
        "KAFKA_SECURITY_PROTOCOL": SECURED_PROTOCOL,
        "KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": password,
        "KAFKA_SSL_CAFILE": str(ca_file),
    }


def write_private(path: Path, text: str) -> None:
    """A file only this user may read: it holds passwords."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _read_secret(path: Path) -> str:
    return path.read_text().strip()


def make_certificates(folder: Path, host: str, java: str, *jvm_options: str) -> None:
    """A CA (ca.pem, for clients) and a broker key and certificate it signed (broker.p12), with the
    JDK's keytool. Store passwords reach keytool through its environment, never its command line."""
    folder.mkdir(mode=0o700)
    keytool = str(Path(java).with_name("keytool"))
    ca_password, broker_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    write_private(folder / "broker.pass", broker_password)
    environment = {**os.environ, "CA_PASS": ca_password, "BROKER_PASS": broker_password}
    ca_store = ["-keystore", str(folder / "ca.p12"), "-storetype", "PKCS12", "-storepass:env", "CA_PASS"]
    broker_store = ["-keystore", str(folder / "broker.p12"), "-storetype", "PKCS12", "-storepass:env", "BROKER_PASS"]
    names = f"dns:localhost,ip:127.0.0.1,{'ip' if _is_ip(host) else 'dns'}:{host}"
    key = ["-keyalg", "EC", "-groupname", "secp256r1", "-validity", str(_CERTIFICATE_DAYS)]
    jvm = [f"-J{option}" for option in jvm_options]

    def keytool_run(*arguments: str, given: str | None = None) -> str:
        done = subprocess.run([keytool, *jvm, *arguments], input=given, capture_output=True, text=True,
                              env=environment, timeout=60)
        if done.returncode != 0:
            output = "\n".join((done.stdout + done.stderr).rstrip().splitlines()[-40:])
            raise CertificateError(f"keytool {arguments[0]} failed ({done.returncode}):\n{output}")
        return done.stdout

    keytool_run("-genkeypair", "-alias", "ca", "-dname", "CN=contract-pause local Kafka CA", "-ext", "bc:c",
                *key, *ca_store)
    keytool_run("-genkeypair", "-alias", "broker", "-dname", f"CN={host}", *key, *broker_store)
    request = keytool_run("-certreq", "-alias", "broker", *broker_store)
    signed = keytool_run("-gencert", "-alias", "ca", "-rfc", "-validity", str(_CERTIFICATE_DAYS),
                         "-ext", f"SAN={names}", "-ext", "eku=serverAuth,clientAuth", *ca_store, given=request)
    ca_pem = keytool_run("-exportcert", "-alias", "ca", "-rfc", *ca_store)
    (folder / "ca.pem").write_text(ca_pem)
    (folder / "chain.pem").write_text(signed + ca_pem)
    keytool_run("-importcert", "-noprompt", "-alias", "broker", "-file", str(folder / "chain.pem"), *broker_store)
    (folder / "ca.p12").unlink()  # nothing more gets signed: the CA's key goes with it


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
