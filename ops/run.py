"""`contract-pause run`: a broker, the topics and every service on one machine, without Docker.

Each service under services/<name>/ (a folder with __main__.py) runs as its own
process, `python -m services.<name>`, with KAFKA_BOOTSTRAP_SERVERS, HTTP_PORT
8081, 8082, ... in name order, and AUTH_JWT_SECRET (the development key of
ops.dev_tokens, which `contract-pause token` signs with). Their output is
interleaved line by line behind a coloured service name, as docker compose does.

`--instances N` runs N processes of each service, all in the service's consumer group (Kafka shares
the partitions out among them), named contract-state#1 ... contract-state#N, on ports 8081 ... for the
first of each as without it, then the next block of ports for the second, and so on. Several
instances need a store that takes several writers: PostgreSQL, one database per service (named after
its module, e.g. contract_state), on a throwaway cluster started here from the local server binaries
(initdb, postgres; it goes when run stops), or on the server `--postgres URL` (or a postgresql://
DATABASE_URL) names, where they are created when missing. `--postgres` alone asks for the throwaway
cluster with one instance too. Without either, one instance per service keeps its SQLite file.
A service that dies is started again after 1 s, 2 s, 4 s ... (at most 30 s; from
1 s again once it has stayed up a minute), unless it refused its configuration
(exit code 2: starting again cannot help). Ctrl-C or SIGTERM stops the services
(SIGTERM, SIGKILL after 10 s), then PostgreSQL, then the broker.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from ops import dev_tokens, kafka_local, postgres_local

SERVICES_DIR = kafka_local.REPO_ROOT / "services"
FIRST_HTTP_PORT = 8081
SERVICE_STOP_TIMEOUT_SECONDS = 10.0
FIRST_RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0  # a service up this long that dies is restarted at once again
EXIT_CONFIGURATION_ERROR = 2  # shared.settings: starting again cannot fix it
LOCAL_POSTGRES = "local"  # --postgres without a URL: a throwaway cluster
CONNECTIONS_PER_PROCESS = 16  # a store's pool (5) and its overflow (10), and one to spare
_COLOURS = ("36", "33", "32", "35", "34", "91", "96", "93")


def discover_services(services_dir: Path = SERVICES_DIR) -> list[str]:
    """Module names of the runnable services: folders of services/ that hold a __main__.py."""
    if not services_dir.is_dir():
        return []
    return sorted(path.parent.name for path in services_dir.glob("*/__main__.py"))


def display_name(module_name: str) -> str:
    return module_name.replace("_", "-")


def instance_name(module_name: str, instance: int, instances: int) -> str:
    """contract-state alone; contract-state#1 ... contract-state#N when there are several."""
    return display_name(module_name) if instances == 1 else f"{display_name(module_name)}#{instance}"


def assigned_http_ports(services_dir: Path = SERVICES_DIR, instances: int = 1) -> dict[str, int]:
    """The HTTP port `run` gives each instance: 8081, 8082, ... in name order for the first of each
    service (the same as with one instance), then the next block for the second, and so on."""
    modules = discover_services(services_dir)
    return {
        instance_name(module, instance, instances): FIRST_HTTP_PORT + (instance - 1) * len(modules) + index
        for instance in range(1, instances + 1)
        for index, module in enumerate(modules)
    }


class Console:
    """Writes whole lines from many threads, each behind a padded, optionally coloured name."""

    def __init__(self, names: list[str], stream: IO[str] = sys.stdout) -> None:
        self._stream = stream
        self._lock = threading.RLock()  # re-entrant: the signal handler prints too
        self._width = max(len(name) for name in [*names, "run"])
        coloured = stream.isatty() and not os.environ.get("NO_COLOR")
        palette = itertools.cycle(_COLOURS)
        self._colours = {name: next(palette) for name in names} if coloured else {}

    def line(self, name: str, text: str) -> None:
        label = f"{name:<{self._width}} |"
        colour = self._colours.get(name)
        if colour:
            label = f"\033[{colour}m{label}\033[0m"
        with self._lock:
            self._stream.write(f"{label} {text.rstrip()}\n")
            self._stream.flush()

    def say(self, text: str) -> None:
        self.line("run", text)


@dataclass
class ServiceProcess:
    module: str
    http_port: int
    instance: int = 1
    instances: int = 1
    process: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    reported_exit: bool = False
    started_at: float = 0.0
    restart_delay: float = FIRST_RESTART_DELAY_SECONDS
    restart_at: float | None = None
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = instance_name(self.module, self.instance, self.instances)

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", f"services.{self.module}"]

    def next_restart_delay(self, now: float) -> float:
        """1 s, 2 s, 4 s ... up to 30 s while it keeps dying; 1 s again after a stable stretch."""
        if now - self.started_at >= STABLE_AFTER_SECONDS:
            self.restart_delay = FIRST_RESTART_DELAY_SECONDS
        delay = self.restart_delay
        self.restart_delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)
        return delay


class RunRefused(Exception):
    """A combination of options run cannot honour; its message is the one line that says so."""


class Runner:
    def __init__(self, kafka_port: int, console_stream: IO[str] = sys.stdout, instances: int = 1,
                 postgres: str | None = None) -> None:
        self.kafka_port = kafka_port
        ports = assigned_http_ports(instances=instances)
        self.services = [
            ServiceProcess(module, ports[instance_name(module, instance, instances)], instance, instances)
            for instance in range(1, instances + 1)
            for module in discover_services()
        ]
        self.postgres = _postgres_wanted(instances, postgres)
        self.console = Console(["kafka", "postgres", *(service.name for service in self.services)], console_stream)
        self.broker: kafka_local.LocalKafka | None = None
        self.database_server: postgres_local.LocalPostgres | None = None
        self.postgres_url = ""  # the server the services' databases are on, when they are on PostgreSQL
        self.bootstrap_servers = ""
        self.auth_secret = ""
        self._stopping = threading.Event()
        self._signals = 0

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._start_broker()
            if not self._stopping.is_set():
                self._start_postgres()
            if not self._stopping.is_set():
                self._ensure_topics()
            if not self._stopping.is_set():
                self._start_services()
            self._supervise()
            return 0 if self._stopping.is_set() or (self._broker_up() and self._postgres_up()) else 1
        finally:
            self._stop_services()
            self._stop_postgres()
            self._stop_broker()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1
        if self._signals == 1:
            self.console.say(f"{signal.Signals(signum).name}: stopping (again to kill at once)")
        self._stopping.set()

    def _start_broker(self) -> None:
        external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if external:
            self.bootstrap_servers = external
            self.console.say(f"Kafka: {external} (from KAFKA_BOOTSTRAP_SERVERS; not starting a broker)")
            return
        self.console.say(f"starting Apache Kafka {kafka_local.kafka_version()} (KRaft, local JVM) on 127.0.0.1:{self.kafka_port}")
        started = time.monotonic()
        self.broker = kafka_local.LocalKafka(port=self.kafka_port).start()
        self.bootstrap_servers = self.broker.bootstrap_servers
        threading.Thread(target=self._follow_broker_log, name="kafka-log", daemon=True).start()
        self.console.say(
            f"Kafka ready at {self.bootstrap_servers} in {time.monotonic() - started:.1f} s (pid {self.broker.pid})"
        )

    def _start_postgres(self) -> None:
        if self.postgres is None:
            return
        databases = discover_services()
        if self.postgres == LOCAL_POSTGRES:
            initdb, postgres = postgres_local.server_binaries()
            self.console.say(f"starting PostgreSQL (throwaway cluster, {Path(postgres).parent}) on 127.0.0.1")
            started = time.monotonic()
            processes = max(len(self.services), 1)
            self.database_server = postgres_local.LocalPostgres(
                initdb, postgres, max_connections=max(200, CONNECTIONS_PER_PROCESS * processes + 20)
            ).start()
            self.postgres_url = self.database_server.url
            self.console.say(f"PostgreSQL ready at 127.0.0.1:{self.database_server.port} in "
                             f"{time.monotonic() - started:.1f} s (pid {self.database_server.pid}); "
                             "its databases go when run stops")
        else:
            self.postgres_url = self.postgres
        shown = make_url(self.postgres_url)
        try:
            created = asyncio.run(postgres_local.create_databases(self.postgres_url, databases))
        except Exception as error:  # noqa: BLE001 - any refusal of the server ends the run with its one line
            raise RunRefused(f"cannot create the services' databases on PostgreSQL {shown.host}:{shown.port or 5432} "
                             f"as {shown.username}: {type(error).__name__}: {error}") from None
        self.console.say(f"service stores: PostgreSQL {shown.host}:{shown.port or 5432}, one database per service "
                         f"({', '.join(databases)}{'; created ' + ', '.join(created) if created else ''})")

    def _follow_broker_log(self) -> None:
        assert self.broker is not None and self.broker.log_path is not None
        with open(self.broker.log_path, errors="replace") as log:
            while True:
                line = log.readline()
                if line:
                    self.console.line("kafka", line)
                elif self.broker.is_running():
                    time.sleep(0.2)
                else:
                    return

    def _ensure_topics(self) -> None:
        try:
            from shared.topics import ensure_topics
        except ImportError as error:
            self.console.say(f"no topics yet (shared.topics.ensure_topics not importable: {error})")
            return
        created = asyncio.run(ensure_topics(self.bootstrap_servers))
        if created:
            self.console.say(f"created topics: {', '.join(created)}")
        else:
            self.console.say("topics ready")

    def _start_services(self) -> None:
        if not self.services:
            self.console.say(f"no services yet (no {SERVICES_DIR.name}/<name>/__main__.py); the broker runs alone")
        elif self.broker is not None and self.postgres is None and "DATABASE_URL" not in os.environ:
            self.console.say(f"service stores: {self.broker.workdir / 'stores'} (fresh, like the broker)")
        self.auth_secret = dev_tokens.ensure_secret()
        if self.services and not os.environ.get("AUTH_JWT_SECRET"):
            self.console.say(f"HTTP APIs take tokens signed with the development key in {dev_tokens.secret_file()}: "
                             "`contract-pause token --as <id> --role <role>` makes one")
        for service in self.services:
            self._start(service)
            self.console.say(f"{service.name}: pid {service.process.pid}, http://127.0.0.1:{service.http_port}")

    def _start(self, service: ServiceProcess) -> None:
        environment = {
            "LOG_FORMAT": "console",  # people read this output; JSON when they ask for it
            **os.environ,
            **self._store_for(service),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "HTTP_PORT": str(service.http_port),
            "AUTH_JWT_SECRET": self.auth_secret,
            "PYTHONUNBUFFERED": "1",
        }
        service.process = subprocess.Popen(
            service.command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C reaches only us, and we stop services in order.
            start_new_session=True,
            preexec_fn=kafka_local.die_with_parent(),
        )
        service.started_at = time.monotonic()
        service.reported_exit = False
        service.restart_at = None
        service.reader = threading.Thread(
            target=self._relay_output, args=(service,), name=f"{service.name}-output", daemon=True
        )
        service.reader.start()

    def _store_for(self, service: ServiceProcess) -> dict[str, str]:
        """On PostgreSQL, the service's own database, shared by its instances. Else a SQLite file: a
        broker started here lives only as long as this run, so the services' stores do too (state left
        by an earlier run would not match the new, empty topics)."""
        if self.postgres_url:
            url = make_url(self.postgres_url).set(database=service.module)
            return {"DATABASE_URL": url.render_as_string(hide_password=False)}
        if self.broker is None or "DATABASE_URL" in os.environ:
            return {}
        assert self.broker.workdir is not None
        return {"DATABASE_URL": f"sqlite:///{self.broker.workdir / 'stores' / display_name(service.module)}.db"}

    def _relay_output(self, service: ServiceProcess) -> None:
        assert service.process is not None and service.process.stdout is not None
        for raw in service.process.stdout:
            self.console.line(service.name, raw.decode(errors="replace"))

    def _supervise(self) -> None:
        if not self._stopping.is_set():
            self.console.say(f"running with KAFKA_BOOTSTRAP_SERVERS={self.bootstrap_servers}; Ctrl-C to stop")
            if self.services:
                self.console.say("every service answers GET /health and /metrics on its port; in another terminal "
                                 "`contract-pause demo` plays the story, `contract-pause tail` follows the topics")
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for service in self._exited_services():
                service.reported_exit = True
                code = service.process.returncode
                if code == EXIT_CONFIGURATION_ERROR:
                    self.console.say(f"{service.name} refused its configuration (exit code {code}); not restarting it, "
                                     "the others keep running")
                    continue
                delay = service.next_restart_delay(now)
                service.restart_at = now + delay
                self.console.say(f"{service.name} exited unexpectedly with code {code}; restarting it in {delay:g} s")
            for service in self.services:
                if service.restart_at is not None and now >= service.restart_at:
                    self._start(service)
            if not self._broker_up():
                self.console.say("the Kafka broker exited unexpectedly; stopping")
                return
            if not self._postgres_up():
                self.console.say(f"PostgreSQL exited unexpectedly; stopping. Its log:\n{self.database_server.log_tail()}")
                return

    def _broker_up(self) -> bool:
        return self.broker is None or self.broker.is_running()

    def _postgres_up(self) -> bool:
        return self.database_server is None or self.database_server.is_running()

    def _exited_services(self) -> Iterator[ServiceProcess]:
        for service in self.services:
            if service.process is not None and not service.reported_exit and service.process.poll() is not None:
                yield service

    def _stop_services(self) -> None:
        running = [s for s in self.services if s.process is not None and s.process.poll() is None]
        for service in running:
            self.console.say(f"stopping {service.name}")
            _signal_quietly(service.process, signal.SIGTERM)
        deadline = time.monotonic() + SERVICE_STOP_TIMEOUT_SECONDS
        for service in running:
            while service.process.poll() is None and time.monotonic() < deadline and self._signals < 2:
                time.sleep(0.1)
            if service.process.poll() is None:
                self.console.say(f"{service.name} did not stop in time, killing it")
                service.process.kill()
            service.process.wait()
        for service in self.services:
            if service.reader is not None:
                service.reader.join(timeout=2)

    def _stop_postgres(self) -> None:
        if self.database_server is None:
            return
        self.console.say("stopping PostgreSQL")
        self.database_server.stop()
        self.console.say("PostgreSQL stopped, its cluster removed")

    def _stop_broker(self) -> None:
        if self.broker is None:
            return
        self.console.say("stopping Kafka")
        self.broker.stop()
        self.console.say("stopped")


def _signal_quietly(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass


def _postgres_wanted(instances: int, postgres: str | None) -> str | None:
    """The PostgreSQL server for the services' databases: LOCAL_POSTGRES, a URL, or None (SQLite)."""
    wanted = _postgres_server(instances, postgres)
    if wanted is None:
        return None
    if importlib.util.find_spec("asyncpg") is None:
        raise RunRefused("the services' PostgreSQL driver is not installed: pip install 'contract-pause[postgres]' "
                         "(from a clone: pip install -e '.[postgres]')")
    if wanted == LOCAL_POSTGRES and (reason := postgres_local.missing_reason()):
        raise RunRefused(f"{reason}; or pass --postgres postgresql://user:password@host:port")
    return wanted


def _postgres_server(instances: int, postgres: str | None) -> str | None:
    if postgres not in (None, LOCAL_POSTGRES):
        if not postgres.startswith(("postgresql://", "postgres://")):
            raise RunRefused(f"--postgres {postgres!r} is no postgresql://user:password@host:port URL")
        return postgres
    if postgres == LOCAL_POSTGRES or instances == 1:
        return postgres
    given = os.environ.get("DATABASE_URL", "").strip()
    if given.startswith(("postgresql://", "postgres://")):
        return given
    if given:
        raise RunRefused(f"--instances {instances} needs PostgreSQL, but DATABASE_URL is {given!r} (SQLite takes one "
                         "writer): unset it for a throwaway cluster, pass --postgres postgresql://user:password@host, "
                         "or run one instance")
    return LOCAL_POSTGRES


def run(kafka_port: int = 9092, instances: int = 1, postgres: str | None = None) -> int:
    try:
        return Runner(kafka_port, instances=instances, postgres=postgres).run()
    except RunRefused as refused:
        print(f"contract-pause run: {refused}", file=sys.stderr)
        return EXIT_CONFIGURATION_ERROR
    except (kafka_local.KafkaLocalError, RuntimeError) as error:
        print(f"contract-pause run: {error}", file=sys.stderr)
        return 1
