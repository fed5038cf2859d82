"""Benchmark (not a test): how long a payment failure takes to pause a contract, tell the freelancer
and close the time gate, beside a bare aiokafka 2-hop relay at the same rate (issue 11).

    python -m benchmarks.latency [--rate 200] [--seconds 10] [--probed 20] [--profile DIR]

The four services run as their own processes (`python -m services.<pkg>`) on fresh temporary
databases, on the broker named by KAFKA_BOOTSTRAP_SERVERS or else on a LocalKafka this script starts.
Every failure is from a different client with one open hourly contract (opened, and known to
time-tracking and notification, before the clock starts). Failures are sent at `--rate` per second
for `--seconds`; each latency is measured from the producer's acknowledgement of its
`billing.payment_failed` to
  - `contract.paused` of the client's contract read on contracts.events,
  - the freelancer's `contract_paused` notice read on `notifications`,
  - the time gate refusing an entry: POST /time-entries as the freelancer every 20 ms until the
    answer is 409 `contract_paused` (on `--probed` clients per second, a sample: probing every client
    would load time-tracking with thousands of write requests per second).

Baseline, same broker, same run, same rate: the same number of messages through a bare aiokafka
2-hop relay (consume → produce → consume → produce → consume), each hop its own process that
consumes a batch, produces each record with the relay's producer settings (acks=all, idempotent,
the same linger), waits for the acks and commits; measured from the producer's ack to the arrival at
the last consumer, as above. The latency of a single event on an idle system is printed for both.

`--without time_tracking` / `--without notification` leaves that service out, and the path it ends
(the gate, the notice) unmeasured: what the other paths take when they do not share the machine with it.
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer, ConsumerRecord

from benchmarks.common import (
    JWT_SECRET,
    LOCAL_BROKER_PIDS,
    Reader,
    bare_hops,
    bare_warm_up,
    broker,
    caught_up,
    fresh_groups,
    percentile,
    producing,
    scratch_topics,
    services,
    wait_healthy,
)
from benchmarks.cpu import CpuWindow
from shared.auth import mint
from shared.events.billing import PaymentFailed, PaymentFailedData
from shared.events.contracts import OpenContract, OpenContractData
from shared.topics import BILLING_EVENTS, CONTRACT_COMMANDS, CONTRACT_EVENTS, NOTIFICATIONS, ensure_topics

SERVICES = ("billing_monitor", "contract_state", "time_tracking", "notification")
OPTIONAL = ("time_tracking", "notification")  # each ends one path; the other two are on every path
PROBE_EVERY = 0.020
IDLE_SINGLES = 5
RUN = uuid.uuid4().hex[:8]


@dataclass
class Client:
    number: int
    probed: bool = False
    run: str = RUN  # another benchmark in the same process passes its own

    @property
    def client_id(self) -> str:
        return f"lat-{self.run}-{self.number}"

    @property
    def contract_id(self) -> str:
        return f"{self.client_id}-c"

    @property
    def freelancer_id(self) -> str:
        return f"{self.client_id}-fl"


@dataclass
class Latencies:
    """Seconds per path, each from the ack of the billing event."""

    paused: list[float] = field(default_factory=list)
    notice: list[float] = field(default_factory=list)
    gate: list[float] = field(default_factory=list)
    sent_rate: float = 0.0
    probe_requests: int = 0
    cpu: str = ""  # what each process spent meanwhile (benchmarks.cpu)


def payment_failed(client: Client) -> PaymentFailed:
    data = PaymentFailedData(client_id=client.client_id, payment_method_id="pm-1", attempt=1,
                             decline_code="insufficient_funds", amount_due=Decimal("49.90"))
    return PaymentFailed.new(data, source="benchmark", time=datetime.now(UTC))


def opening(client: Client, at: datetime) -> OpenContract:
    data = OpenContractData(contract_id=client.contract_id, client_id=client.client_id,
                            freelancer_id=client.freelancer_id, kind="hourly")
    return OpenContract.new(data, source="benchmark", time=at)


async def paced(producer: AIOKafkaProducer, messages: list[tuple[str, bytes, bytes]], rate: float,
                on_ack: Callable[[bytes, float], None]) -> float:
    """Send (topic, key, value) at `rate` per second; `on_ack(key, when)` as Kafka acknowledges each.
    Returns the rate actually achieved."""
    started = time.perf_counter()
    pending = []
    for number, (topic, key, value) in enumerate(messages):
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        ack = await producer.send(topic, value, key=key)
        ack.add_done_callback(lambda _f, key=key: on_ack(key, time.perf_counter()))
        pending.append(ack)
    await asyncio.gather(*pending)
    return len(messages) / max(time.perf_counter() - started, 1e-9)


# --- baseline ------------------------------------------------------------------------------------


async def bare(bootstrap: str, workdir: Path, rate: float, count: int,
               idle_singles: int = IDLE_SINGLES) -> tuple[list[float], Latencies]:
    """Idle singles and the loaded run through a bare 2-hop relay: (idle, loaded); the loaded run's
    arrivals at the last consumer are its `paused`."""
    async with scratch_topics(bootstrap, 3) as (first, middle, last):
        with bare_hops(bootstrap, [(first.name, middle.name), (middle.name, last.name)], workdir) as hops:
            async with producing(bootstrap) as producer, Reader.opened(bootstrap, last.name) as out:
                await bare_warm_up(producer, out, first.name)
                idle = []
                for number in range(idle_singles):
                    await asyncio.sleep(1.0)
                    key = f"idle-{number}".encode()
                    latencies, _ = await _bare_run(producer, out, first.name, [key], rate)
                    idle += latencies
                keys = [f"load-{number}".encode() for number in range(count)]
                with CpuWindow(_pids(bootstrap, hops)) as cpu:
                    loaded, achieved = await _bare_run(producer, out, first.name, keys, rate)
                return idle, Latencies(paused=loaded, sent_rate=achieved, cpu=cpu.said())


async def _bare_run(producer: AIOKafkaProducer, out: Reader, topic: str, keys: list[bytes],
                    rate: float) -> tuple[list[float], float]:
    acked: dict[bytes, float] = {}
    wanted = set(keys)
    value = payment_failed(Client(0)).to_json()  # the size of the real input
    reading = asyncio.create_task(out.until(lambda record: record.key in wanted, len(keys)))
    achieved = await paced(producer, [(topic, key, value) for key in keys], rate, acked.__setitem__)
    arrivals = await reading
    return [arrived - acked[record.key] for arrived, record in arrivals], achieved


# --- the services --------------------------------------------------------------------------------


class Probes:
    """Submits time as a freelancer every 20 ms until the gate refuses it; notes when it did."""

    def __init__(self, http: httpx.AsyncClient, port: int, window: tuple[datetime, datetime]) -> None:
        self._http = http
        self._url = f"http://127.0.0.1:{port}/time-entries"
        self._window = window
        self.refused: dict[str, float] = {}
        self.tasks: list[asyncio.Task] = []
        self.requests = 0

    def start(self, client: Client, acked_at: float) -> None:
        self.tasks.append(asyncio.create_task(self._probe(client, acked_at)))

    async def _probe(self, client: Client, acked_at: float) -> None:
        headers = {"Authorization": f"Bearer {mint(JWT_SECRET, client.freelancer_id, 'freelancer')}"}
        started_at, ended_at = self._window
        deadline = time.perf_counter() + 120
        number = 0
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            number += 1
            body = {"entry_id": f"{client.contract_id}-probe-{number}", "contract_id": client.contract_id,
                    "freelancer_id": client.freelancer_id, "started_at": started_at.isoformat(),
                    "ended_at": ended_at.isoformat(), "memo": "latency probe", "source": "tracker"}
            try:
                answer = await self._http.post(self._url, json=body, headers=headers)
            except httpx.TransportError:  # a kept-alive connection the server closed meanwhile: ask again
                continue
            self.requests += 1
            if answer.status_code == 409 and answer.json().get("reason") == "contract_paused":
                self.refused[client.contract_id] = time.perf_counter() - acked_at
                return
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"probe answered {answer.status_code}: {answer.text[:200]}")
            await asyncio.sleep(max(0.0, sent + PROBE_EVERY - time.perf_counter()))
        raise TimeoutError(f"the time gate did not refuse {client.contract_id} within 120 s")


def paused_of(contracts: set[bytes]) -> Callable[[ConsumerRecord], bool]:
    return lambda record: record.key in contracts and json.loads(record.value)["type"] == "contract.paused"


def notice_of(freelancers: set[bytes]) -> Callable[[ConsumerRecord], bool]:
    def matches(record: ConsumerRecord) -> bool:
        if record.key not in freelancers:
            return False
        data = json.loads(record.value)["data"]
        return data["kind"] == "contract_paused" and data["recipient_role"] == "freelancer"
    return matches


async def through_services(bootstrap: str, producer: AIOKafkaProducer, events: Reader, notices: Reader | None,
                           probes: Probes | None, clients: list[Client], rate: float) -> Latencies:
    """Send each client's payment failure at `rate`; the latency of every path measured (a path whose
    service is left out, with its reader or probes None, is not)."""
    by_key = {client.client_id.encode(): client for client in clients}
    acked: dict[str, float] = {}

    def on_ack(key: bytes, when: float) -> None:
        client = by_key[key]
        acked[client.client_id] = when
        if client.probed and probes:
            probes.start(client, when)

    contracts = {client.contract_id.encode() for client in clients}
    freelancers = {client.freelancer_id.encode() for client in clients}
    reading_events = asyncio.create_task(events.until(paused_of(contracts), len(clients)))
    reading_notices = asyncio.create_task(notices.until(notice_of(freelancers), len(clients))) if notices else None
    messages = [(BILLING_EVENTS.name, client.client_id.encode(), payment_failed(client).to_json()) for client in clients]
    figures = Latencies(sent_rate=await paced(producer, messages, rate, on_ack))
    client_of_contract = {client.contract_id.encode(): client.client_id for client in clients}
    client_of_freelancer = {client.freelancer_id.encode(): client.client_id for client in clients}
    for arrived, record in await reading_events:
        figures.paused.append(arrived - acked[client_of_contract[record.key]])
    for arrived, record in await reading_notices if reading_notices else ():
        figures.notice.append(arrived - acked[client_of_freelancer[record.key]])
    if probes:
        await asyncio.gather(*probes.tasks)
        figures.gate = [probes.refused[client.contract_id] for client in clients if client.probed]
        probes.tasks.clear()
    return figures


async def open_contracts(bootstrap: str, producer: AIOKafkaProducer, clients: list[Client], at: datetime,
                         groups: dict[str, str]) -> None:
    """Open every client's contract and wait until contract-state, and time-tracking and notification
    if they run (have a group), have applied them."""
    acks = [
        await producer.send(CONTRACT_COMMANDS.name, opening(client, at).to_json(), key=client.contract_id.encode())
        for client in clients
    ]
    await asyncio.gather(*acks)
    await caught_up(bootstrap, groups["contract_state"], [CONTRACT_COMMANDS.name])
    for package in (package for package in OPTIONAL if package in groups):
        await caught_up(bootstrap, groups[package], [CONTRACT_EVENTS.name])


async def measure_services(bootstrap: str, workdir: Path, rate: float, count: int, probed_per_second: float,
                           profile: Path | None, idle_singles: int = IDLE_SINGLES,
                           without: Sequence[str] = ()) -> tuple[Latencies, Latencies]:
    """(idle singles, loaded run) through the four services, or those not left out."""
    packages = tuple(package for package in SERVICES if package not in without)
    if "time_tracking" not in packages:
        probed_per_second = 0
    probe_one_in = max(1, round(rate / probed_per_second)) if probed_per_second > 0 else 0
    run = uuid.uuid4().hex[:8]  # each measurement its own clients, even twice in one process
    load = [Client(n, probed=bool(probe_one_in) and n % probe_one_in == 0, run=run) for n in range(count)]
    singles = [Client(count + n, probed=True, run=run) for n in range(idle_singles + 1)]  # the first warms up
    opened_at = datetime.now(UTC) - timedelta(hours=2)
    # Probes report time well before any pause (and after the opening): only "paused now" refuses them.
    window = (opened_at + timedelta(minutes=10), opened_at + timedelta(minutes=20))
    groups = await fresh_groups(bootstrap, packages)
    with services(bootstrap, workdir, packages, runner=_profiler(profile), groups=groups) as running:
        await wait_healthy(running.ports, running.running)
        async with (
            producing(bootstrap) as producer,
            Reader.opened(bootstrap, CONTRACT_EVENTS.name) as events,
            (Reader.opened(bootstrap, NOTIFICATIONS.name) if "notification" in packages
             else contextlib.nullcontext()) as notices,
            httpx.AsyncClient(limits=httpx.Limits(max_connections=200), timeout=30) as http,
        ):
            await open_contracts(bootstrap, producer, singles + load, opened_at, groups)
            probes = Probes(http, running.ports["time_tracking"], window) if "time_tracking" in packages else None
            await through_services(bootstrap, producer, events, notices, probes, singles[:1], rate)
            idle = Latencies()
            for client in singles[1:]:
                await asyncio.sleep(1.0)
                one = await through_services(bootstrap, producer, events, notices, probes, [client], rate)
                idle.paused += one.paused
                idle.notice += one.notice
                idle.gate += one.gate
            with CpuWindow(_pids(bootstrap, running.running)) as cpu:
                loaded = await through_services(bootstrap, producer, events, notices, probes, load, rate)
            loaded.cpu = cpu.said()
            loaded.probe_requests = probes.requests if probes else 0
            return idle, loaded


def _pids(bootstrap: str, processes: dict[str, subprocess.Popen]) -> dict[str, int]:
    """Whose CPU a run counts: its processes, the broker if this script started it, and this script."""
    pids = {name.replace("_", "-"): process.pid for name, process in processes.items()}
    if bootstrap in LOCAL_BROKER_PIDS:
        pids["broker"] = LOCAL_BROKER_PIDS[bootstrap]
    return pids | {"this script": os.getpid()}


def _profiler(profile: Path | None) -> Callable[[str], list[str]] | None:
    if profile is None:
        return None
    profile.mkdir(parents=True, exist_ok=True)
    return lambda package: [sys.executable, "-m", "pyinstrument", "-r", "text", "--show-all",
                            "-o", str(profile / f"{package}.txt"), "-m", f"services.{package}"]


# --- report --------------------------------------------------------------------------------------


def row(name: str, values: list[float], baseline: list[float] | None = None) -> str:
    if not values:
        return f"{name:<34} (not measured)"
    p50, p99 = percentile(values, 0.50) * 1000, percentile(values, 0.99) * 1000
    text = f"{name:<34} {p50:8.1f} {p99:8.1f} {len(values):7}"
    if baseline:
        b50, b99 = percentile(baseline, 0.50) * 1000, percentile(baseline, 0.99) * 1000
        text += f" {p50 / b50:8.2f}x {p99 / b99:8.2f}x"
    return text


def report(rate: float, seconds: float, idle_bare: list[float], baseline: Latencies, idle: Latencies,
           loaded: Latencies, idle_singles: int = IDLE_SINGLES) -> None:
    bare_loaded = baseline.paused
    ms = lambda values: f"{percentile(values, 0.5) * 1000:.1f} ms" if values else "-"  # noqa: E731
    print(f"single event on an idle system (median of {idle_singles}): bare 2-hop relay {ms(idle_bare)}; "
          f"-> contract.paused {ms(idle.paused)}, -> freelancer notice {ms(idle.notice)}, -> time gate {ms(idle.gate)}")
    print(f"under load: {rate:g} failures/s for {seconds:g} s (sent at {loaded.sent_rate:,.0f}/s; "
          f"baseline sent at {baseline.sent_rate:,.0f}/s); gate probed on {len(loaded.gate)} clients, "
          f"{loaded.probe_requests} probe requests")
    print(f"{'path':<34} {'p50 ms':>8} {'p99 ms':>8} {'count':>7} {'p50/base':>9} {'p99/base':>9}")
    print(row("baseline: bare aiokafka 2-hop relay", bare_loaded))
    print(row("-> contract.paused on the topic", loaded.paused, bare_loaded))
    print(row("-> freelancer's contract_paused", loaded.notice, bare_loaded))
    print(row("-> time gate refuses an entry", loaded.gate, bare_loaded))
    if baseline.cpu and loaded.cpu:
        print(f"CPU, baseline under load: {baseline.cpu}")
        print(f"CPU, services under load: {loaded.cpu}")


async def benchmark(bootstrap: str, rate: float, seconds: float, probed: float, profile: Path | None,
                    idle_singles: int = IDLE_SINGLES, without: Sequence[str] = ()) -> None:
    await ensure_topics(bootstrap)
    count = max(1, round(rate * seconds))
    with tempfile.TemporaryDirectory(prefix="latency-") as scratch:
        workdir = profile or Path(scratch)  # with a profile, the services' logs stay beside it
        workdir.mkdir(parents=True, exist_ok=True)
        idle_bare, baseline = await bare(bootstrap, workdir, rate, count, idle_singles)
        idle, loaded = await measure_services(bootstrap, workdir, rate, count, probed, profile, idle_singles, without)
    report(rate, seconds, idle_bare, baseline, idle, loaded, idle_singles)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="billing failures per second (default 200)")
    parser.add_argument("--seconds", type=float, default=10, help="how long to send them (default 10)")
    parser.add_argument("--probed", type=float, default=20,
                        help="clients per second whose time gate is probed (default 20; 0: none)")
    parser.add_argument("--profile", type=Path, help="run each service under pyinstrument, its HTML report here")
    parser.add_argument("--without", action="append", choices=OPTIONAL, default=[],
                        help="leave this service out (repeatable); the path it ends is not measured")
    options = parser.parse_args(argv)
    with broker() as bootstrap:
        left_out = f"; without {', '.join(options.without)}" if options.without else ""
        print(f"broker {bootstrap}; {options.rate:g} failures/s for {options.seconds:g} s{left_out}", flush=True)
        asyncio.run(benchmark(bootstrap, options.rate, options.seconds, options.probed, options.profile,
                              without=options.without))


if __name__ == "__main__":
    main()
