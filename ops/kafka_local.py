"""A real single-node Apache Kafka broker (KRaft) run from Maven Central jars.

Used by the test suite and by `contract-pause run` on machines without Docker.
The Kafka version is pinned in deploy/kafka/pom.xml and nowhere else.

    with LocalKafka() as kafka:
        use(kafka.bootstrap_servers)

    with LocalKafka(secured=True, users=["billing-monitor", "producer"]) as kafka:
        use(kafka.bootstrap_servers, **kafka.client_options("producer"))

Secured, the client listener is SASL_SSL with SCRAM users and ACLs (see ops.kafka_secured).

No broker may outlive the Python process that started it: the JVM gets SIGTERM
when its parent dies (PR_SET_PDEATHSIG), live brokers are stopped at exit, and
every JVM carries a marker property so `find_stray_brokers()` can find leftovers.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import concurrent.futures
import ctypes
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ops import kafka_secured
from ops.kafka_secured import ADMIN_USER, CONTROLLER_USER

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
POM_PATH = KAFKA_DEPLOY_DIR / "pom.xml"
LOG4J_CONFIG_PATH = KAFKA_DEPLOY_DIR / "log4j2.properties"

MARKER_PROPERTY = "contract.pause.kafka"
OWNER_PROPERTY = "contract.pause.kafka.owner"

STOP_TIMEOUT_SECONDS = 15.0
DEFAULT_STARTUP_TIMEOUT_SECONDS = 60.0
DEFAULT_HEAP = "512m"

_PR_SET_PDEATHSIG = 1
_WORKDIR_PREFIX = "contract-pause-kafka-"
_STALE_WORKDIR_SECONDS = 600
_STAMP_FILE = ".complete"


class KafkaLocalError(RuntimeError):
    """The local broker could not be fetched, formatted or started."""


def kafka_version() -> str:
    """The Kafka version pinned in deploy/kafka/pom.xml."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ElementTree.parse(POM_PATH).getroot()
    version = root.findtext("m:properties/m:kafka.version", namespaces=namespace)
    if not version:
        raise KafkaLocalError(f"no <kafka.version> property in {POM_PATH}")
    return version.strip()


def cache_root() -> Path:
    configured = os.environ.get("CONTRACT_PAUSE_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "contract-pause"


def libs_dir(version: str | None = None) -> Path:
    return cache_root() / f"kafka-{version or kafka_version()}" / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(POM_PATH.read_bytes()).hexdigest()


def jars_fetched() -> bool:
    stamp = libs_dir() / _STAMP_FILE
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest()


def fetch_jars(*, force: bool = False) -> Path:
    """Download the broker's jars into the cache once; return the folder holding them.

    A stamp with the pom's digest marks a complete download, so a changed pom
    (new Kafka or log4j version) fetches again and an interrupted one is redone.
    """
    target = libs_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock_file:
        # Parallel test runs share the cache: one downloads, the others wait.
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if jars_fetched() and not force:
            return target
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaLocalError("Apache Maven (mvn) is needed to fetch the Kafka jars; it is not on PATH")
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=target.parent))
        command = [
            mvn, "-q", "-B", "-f", str(POM_PATH), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
        ]
        log.info("fetching Apache Kafka %s jars into %s", kafka_version(), target)
        try:
            result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                raise KafkaLocalError(
                    f"mvn failed ({result.returncode}) fetching Kafka jars:\n"
                    + _tail(result.stdout + result.stderr)
                )
            if not any(staging.glob("kafka_2.13-*.jar")):
                raise KafkaLocalError(f"mvn succeeded but no kafka_2.13 jar landed in {staging}")
            (staging / _STAMP_FILE).write_text(_pom_digest() + "\n")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _read_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _property(cmdline: list[str], name: str) -> str | None:
    prefix = f"-D{name}="
    for argument in cmdline:
        if argument.startswith(prefix):
            return argument[len(prefix):]
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_stray_brokers(owner_pid: int | None = None, *, include_descendants: bool = False) -> list[int]:
    """PIDs of live JVMs started by LocalKafka.

    With `owner_pid`, only those started by that process, or with `include_descendants`
    also those started by its child processes (a `contract-pause run` a test launched).
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        cmdline = _read_cmdline(pid)
        if _property(cmdline, MARKER_PROPERTY) is None:
            continue
        if owner_pid is not None:
            owner = _property(cmdline, OWNER_PROPERTY)
            if owner is None or not owner.isdigit():
                continue
            if int(owner) != owner_pid and not (include_descendants and _descends_from(int(owner), owner_pid)):
                continue
        found.append(pid)
    return sorted(found)


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces; fields after it are plain.
    return int(stat.rpartition(")")[2].split()[1])


def _descends_from(pid: int, ancestor: int) -> bool:
    seen = set()
    current: int | None = pid
    while current and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        current = _parent_pid(current)
    return False


def broker_owner(pid: int) -> int | None:
    """The PID of the Python process that started broker `pid`, as tagged on its command line."""
    owner = _property(_read_cmdline(pid), OWNER_PROPERTY)
    return int(owner) if owner and owner.isdigit() else None


def kill_brokers(pids: list[int], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the given brokers, SIGKILL those still alive after `timeout` seconds, remove their directories."""
    workdirs = [_property(_read_cmdline(pid), MARKER_PROPERTY) for pid in pids]
    for pid in pids:
        _signal_quietly(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(pid) and _read_cmdline(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if _read_cmdline(pid):
            _signal_quietly(pid, signal.SIGKILL)
    for workdir in workdirs:
        if workdir and Path(workdir).name.startswith(_WORKDIR_PREFIX):
            shutil.rmtree(workdir, ignore_errors=True)


def _signal_quietly(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when this process dies (Linux only).

    PR_SET_PDEATHSIG fires when the *thread* that forked exits, so start children
    from a thread that lives as long as they should (the main thread in practice).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _random_cluster_id() -> str:
    # Same form as Kafka's Uuid.randomUuid(): url-safe base64 of 16 bytes, never starting with '-'.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaLocalError("a Java runtime (java, 17+) is needed for the local Kafka broker; it is not on PATH")
    return java


_live_brokers: set[LocalKafka] = set()
_live_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    for broker in list(_live_brokers):
        broker.stop()


atexit.register(_stop_all_at_exit)


class LocalKafka:
    """One Apache Kafka broker+controller node in a fresh temporary directory.

    Start it from a thread that outlives it (normally the main thread): the JVM is
    told to exit when the thread that started it ends.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        heap: str = DEFAULT_HEAP,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_SECONDS,
        secured: bool = False,
        users: Iterable[str] = (),
    ) -> None:
        """`secured`: a SASL_SSL listener with ACLs instead of PLAINTEXT; `users` get SCRAM
        credentials besides `admin` (a principal per service, test clients)."""
        self.requested_port = port
        self.host = host
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.secured = secured
        self._user_names = tuple(dict.fromkeys([ADMIN_USER, *users])) if secured else ()
        if CONTROLLER_USER in self._user_names:
            raise KafkaLocalError(f"{CONTROLLER_USER!r} is the broker's own login; name the user otherwise")
        self._passwords: dict[str, str] = {}  # made at each start
        self.port: int | None = None
        self.controller_port: int | None = None
        self.cluster_id: str | None = None
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self._halted: list[str] | None = None  # the command line of a broker halted for `resume`

    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise KafkaLocalError("LocalKafka is not started")
        return f"{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The PEM certificate of the CA that signed the broker's certificate (secured brokers)."""
        if not self.secured or self.workdir is None:
            raise KafkaLocalError("only a started secured LocalKafka has a CA file")
        return self.workdir / "tls" / "ca.pem"

    @property
    def users(self) -> list[str]:
        return list(self._user_names)

    def password(self, user: str) -> str:
        if user not in self._user_names or user not in self._passwords:
            raise KafkaLocalError(f"{user!r} is not a SCRAM user of this (started, secured) broker")
        return self._passwords[user]

    def client_options(self, user: str = ADMIN_USER) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients logging in as `user` (nothing for a plaintext broker)."""
        if not self.secured:
            return {}
        return kafka_secured.client_options(user, self.password(user), self.ca_file)

    def client_environment(self, user: str = ADMIN_USER) -> dict[str, str]:
        """The KAFKA_* variables a service (shared.settings) needs to reach this broker as `user`."""
        environment = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}
        if self.secured:
            environment |= kafka_secured.client_environment(user, self.password(user), self.ca_file)
        return environment

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """Where the broker's stdout and stderr go while it runs (removed on stop)."""
        return self.workdir / "broker.log" if self.workdir is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalKafka:
        if self._process is not None:
            raise KafkaLocalError("LocalKafka is already started")
        libs = fetch_jars()
        attempts = 1 if self.requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(libs)
                return self
            except _PortTaken as taken:
                self.stop()
                if attempt == attempts:
                    raise KafkaLocalError(str(taken)) from None
                log.info("port race on attempt %d, retrying with other ports", attempt)
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _start_once(self, libs: Path) -> None:
        if self.requested_port is not None and not port_is_free(self.requested_port, self.host):
            raise KafkaLocalError(
                f"port {self.host}:{self.requested_port} is already in use (another Kafka?); "
                "stop it, choose another port, or point KAFKA_BOOTSTRAP_SERVERS at it"
            )
        self.port = self.requested_port or free_port(self.host)
        self.controller_port = free_port(self.host)
        self.cluster_id = _random_cluster_id()
        _remove_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX))
        properties = self.workdir / "server.properties"
        java = _java()
        classpath = f"{libs}/*"
        log4j = f"-Dlog4j2.configurationFile={LOG4J_CONFIG_PATH}"
        # C1 only: a test or dev broker lives minutes, and C2's compile work slows its start on small machines.
        quick_start = "-XX:TieredStopAtLevel=1"
        format_arguments = ["format", "-t", self.cluster_id, "-c", str(properties), "--standalone"]
        if self.secured:
            self._passwords = kafka_secured.new_passwords((*self._user_names, CONTROLLER_USER))
            try:
                kafka_secured.make_certificates(self.workdir / "tls", self.host, java, quick_start)
            except kafka_secured.CertificateError as error:
                raise KafkaLocalError(str(error)) from None
            # Read by StorageTool as '@file' (argparse4j), so no password shows on a command line.
            scram = self.workdir / "scram.args"
            kafka_secured.write_private(scram, kafka_secured.scram_arguments(self._passwords))
            format_arguments.append(f"@{scram}")
        kafka_secured.write_private(properties, self._server_properties())

        try:
            formatted = subprocess.run(
                [java, "-Xmx256m", quick_start, log4j, "-cp", classpath, "kafka.tools.StorageTool",
                 *format_arguments],
                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
            )
        finally:
            (self.workdir / "scram.args").unlink(missing_ok=True)
        if formatted.returncode != 0:
            raise KafkaLocalError(
                f"kafka.tools.StorageTool format failed ({formatted.returncode}):\n"
                + _tail(formatted.stdout + formatted.stderr)
            )

        command = [
            java,
            f"-Xms{self.heap}", f"-Xmx{self.heap}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
            quick_start, log4j,
            f"-D{MARKER_PROPERTY}={self.workdir}",
            f"-D{OWNER_PROPERTY}={os.getpid()}",
            "-cp", classpath, "kafka.Kafka", str(properties),
        ]
        self._log_file = open(self.log_path, "wb")
        with _live_lock:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Own process group: Ctrl-C reaches us, and we stop the broker after the services.
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
            _live_brokers.add(self)
        _terminate_on_sigterm()
        self._wait_until_ready()
        log.info("Kafka %s broker up at %s (pid %d)", kafka_version(), self.bootstrap_servers, self.pid)

    def _server_properties(self) -> str:
        host, port, controller = self.host, self.port, self.controller_port
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.bootstrap.servers": f"{host}:{controller}",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "6",
            "default.replication.factor": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.secured:
            settings |= kafka_secured.security_properties(host, port, controller, self.workdir / "tls", self._passwords)
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            self._raise_if_exited()
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
                cluster_id = _describe_cluster_id(self.bootstrap_servers, timeout=5.0, **self.client_options())
            except Exception as error:  # not up yet: refused, timed out, no metadata
                last_error = error
                time.sleep(0.2)
                continue
            self._raise_if_exited()
            if cluster_id != self.cluster_id:
                raise _PortTaken(
                    f"{self.bootstrap_servers} answers for cluster {cluster_id!r}, not ours "
                    f"({self.cluster_id}): another broker holds the port.\n{self._log_tail()}"
                )
            return
        raise KafkaLocalError(
            f"Kafka broker at {self.bootstrap_servers} not ready after {self.startup_timeout:.0f} s "
            f"(last error: {last_error!r}). Broker output:\n{self._log_tail()}"
        )

    def _raise_if_exited(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is None:
            return
        output = self._log_tail()
        message = f"Kafka broker exited with code {code} during startup. Broker output:\n{output}"
        if "Address already in use" in output and self.requested_port is None:
            raise _PortTaken(message)
        raise KafkaLocalError(message)

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no output)"
        return _tail(self.log_path.read_text(errors="replace")) or "(no output)"

    def restart(self) -> None:
        """Stop the broker (SIGTERM: a controlled shutdown) and start it again on the same ports and
        data, as a broker restart looks to its clients (benchmarks.chaos). From the starting thread."""
        self.halt()
        self.resume()

    def halt(self) -> None:
        """Stop the broker's process, keeping its ports and data for `resume`."""
        if self._process is None or self.workdir is None:
            raise KafkaLocalError("LocalKafka is not started")
        self._halted = self._process.args
        _stop_process(self._process, STOP_TIMEOUT_SECONDS)

    def resume(self) -> None:
        """Start the halted broker again, from the starting thread; returns once it answers."""
        with _live_lock:
            self._process = subprocess.Popen(
                self._halted, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True, preexec_fn=die_with_parent(),
            )
        self._wait_until_ready()

    def stop(self) -> None:
        """SIGTERM the broker, SIGKILL it after 15 s, and remove its directory. Idempotent."""
        process = self._process
        if process is not None:
            try:
                _stop_process(process, STOP_TIMEOUT_SECONDS)
            finally:
                with _live_lock:
                    _live_brokers.discard(self)
                self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.port = None
        self._passwords = {}


def _remove_stale_workdirs() -> None:
    """Delete directories left by brokers whose Python process was killed outright (SIGKILL)."""
    in_use = {_property(_read_cmdline(pid), MARKER_PROPERTY) for pid in find_stray_brokers()}
    cutoff = time.time() - _STALE_WORKDIR_SECONDS
    for workdir in Path(tempfile.gettempdir()).glob(_WORKDIR_PREFIX + "*"):
        try:
            stale = str(workdir) not in in_use and workdir.stat().st_mtime < cutoff
        except OSError:
            continue
        if stale:
            shutil.rmtree(workdir, ignore_errors=True)


class _PortTaken(KafkaLocalError):
    pass


def _stop_process(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGTERM for %.0f s, killing it", process.pid, timeout)
            process.kill()
            process.wait()
    except BaseException:
        # Interrupted while waiting (a second Ctrl-C): never leave the process behind.
        process.kill()
        process.wait()
        raise


_sigterm_installed = False


def _terminate_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C when nobody handles it, so `finally` blocks, fixtures and atexit stop the brokers."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    _sigterm_installed = True


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    # KeyboardInterrupt, not SystemExit: pytest would report SystemExit as one failed test and go on.
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _describe_cluster_id(bootstrap_servers: str, timeout: float, **client_options: Any) -> str | None:
    """One metadata request, run on its own event loop in a worker thread (callers may be inside a loop)."""

    async def describe() -> str | None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000), **client_options
        )
        try:
            await asyncio.wait_for(admin.start(), timeout)
            cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        finally:
            await admin.close()
        if not cluster.get("brokers"):
            raise KafkaLocalError("metadata lists no brokers yet")
        return cluster.get("cluster_id")

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, describe()).result(timeout + 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.kafka_local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="download the Kafka jars into the cache (once)")
    commands.add_parser("where", help="print the folder that holds (or will hold) the jars")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if arguments.command == "fetch":
        print(fetch_jars())
    elif arguments.command == "where":
        print(libs_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
