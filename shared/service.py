"""A service process: settings, logs, store, Kafka, outbox relay, and an HTTP port for health,
metrics and the service's own API. Each service's `app.py` declares what it consumes and serves."""

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST
from faststream.kafka import KafkaBroker
from pydantic import TypeAdapter
from sqlalchemy import MetaData, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.auth import ApiRoute, Endpoint, Role
from shared.broker import KafkaRefusedUs, make_broker, make_outbox_producer, wait_for_kafka
from shared.consumer import Apply, ApplyBatch, EventIntake, subscribe
from shared.dead_letters import DeadLetters
from shared.http import api_app
from shared.logs import configure_logging, get_logger
from shared.metrics import Metrics, group_lag
from shared.relay import OutboxRelay
from shared.retention import Retention
from shared.settings import BaseServiceSettings, load_settings
from shared.single_writer import claim_sqlite_store
from shared.store import Store
from shared.topics import Topic

log = get_logger(__name__)

S = TypeVar("S", bound=BaseServiceSettings)


class Service:
    def __init__(self, settings: BaseServiceSettings, tables: MetaData) -> None:
        self.settings = settings
        self.name = settings.service_name
        self.store = Store(settings.store_url, tables)
        self.broker: KafkaBroker = make_broker(settings)
        self.metrics = Metrics()
        self.dead_letters = DeadLetters(self._publish_confirmed, consumer_group=self.name, metrics=self.metrics)
        self.relay = OutboxRelay(self.store, self._send, self.metrics)
        self.intakes: list[EventIntake] = []
        self.max_records = 500  # per poll, over all topics
        self.routes: list[BaseRoute] = [Route("/health", self._health), Route("/metrics", self._metrics)]
        # Long-running work of the service besides consuming (e.g. delivering webhooks): each is
        # started as a task in start() and cancelled in stop(), after the relay has drained.
        self.background: list[Callable[[], Awaitable[None]]] = [
            Retention(self.store, timedelta(hours=settings.retention_hours)).run,
        ]
        self._background_tasks: list[asyncio.Task] = []
        self._http: _EmbeddedServer | None = None
        self._outbox_producer: AIOKafkaProducer | None = None

    def consume(self, topic: Topic, events: TypeAdapter, apply: Apply, apply_batch: ApplyBatch | None = None) -> EventIntake:
        """Take a topic's events with `apply`; the service's one consumer subscribes at start."""
        intake = EventIntake(
            topic, events, apply,
            store=self.store, dead_letters=self.dead_letters, metrics=self.metrics,
            apply_batch=apply_batch, max_future=timedelta(hours=self.settings.event_time_max_future_hours),
        )
        self.intakes.append(intake)
        return intake

    def subscribe(self) -> None:
        """Register the one Kafka consumer of every topic consumed (once, after the last `consume`)."""
        if self.intakes and not self.broker.subscribers:
            subscribe(self.broker, group_id=self.name, intakes=self.intakes, max_records=self.max_records,
                      between_batches=self.relay.keep_up)

    def api(self, path: str, endpoint: Endpoint, *, allow: set[Role], methods: tuple[str, ...] = ("GET",)) -> None:
        """Serve one route of the service's API to callers with a verified token and one of the roles."""
        if self.settings.http_api:
            self.routes.append(ApiRoute(path, endpoint, allow=allow, methods=methods))

    def http_app(self) -> Starlette:
        """Health, metrics and the API, behind the shared border (size limits, auth, JSON errors)."""
        return api_app(self.routes, self.settings.token_verifier(), self.settings.http_max_body_bytes)

    def produces(self, topic: Topic, events: Any, description: str = "") -> None:
        """Declare what the service writes to a topic (it writes through the outbox): the AsyncAPI
        document shows it. `events` is the topic's event type or discriminated union."""
        self.broker.publisher(topic.name, title=f"{self.name}:{topic.name}", schema=events, description=description)

    async def start(self, http: bool = True) -> None:
        await wait_for_kafka(self.settings)
        await self.store.open([intake.topic for intake in self.intakes])
        self.subscribe()
        await self._connect_to_kafka()
        self.relay.start()
        self._background_tasks = [asyncio.create_task(_logged(work), name=_name(work)) for work in self.background]
        if http:
            self._http = _EmbeddedServer(self.http_app(), self.settings.http_host, self.settings.http_port)
            await self._http.start()
        log.info("service started", kafka=self.settings.kafka_bootstrap_servers,
                 http=f"{self.settings.http_host}:{self.settings.http_port}")

    async def _connect_to_kafka(self) -> None:
        """Start the consumers, the dead-letter producer and the outbox producer. A broker that went
        away since it last answered (restarting, say) is waited for again: a service started at that
        moment would otherwise exit."""
        while True:
            try:
                await self.broker.start()
                self._outbox_producer = make_outbox_producer(self.settings)
                await self._outbox_producer.start()
                return
            except KafkaConnectionError as error:
                log.warning("kafka went away while we connected; waiting for it again", error=str(error))
                await self._disconnect_from_kafka()
                await wait_for_kafka(self.settings)

    async def _disconnect_from_kafka(self) -> None:
        if self._outbox_producer:
            await self._outbox_producer.stop()
            self._outbox_producer = None
        await self.broker.stop()

    async def stop(self) -> None:
        """Stop taking input, publish what is committed, then let go of Kafka and the store."""
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        await self.relay.stop()
        if self._outbox_producer:
            await self._outbox_producer.stop()
            self._outbox_producer = None
        for task in self._background_tasks:
            task.cancel()
        await asyncio.gather(*self._background_tasks, return_exceptions=True)
        self._background_tasks = []
        if self._http:
            await self._http.stop()
        await self.broker.stop()
        await self.store.close()
        log.info("service stopped")

    async def _send(self, topic: str, key: bytes, payload: bytes) -> asyncio.Future:
        if self._outbox_producer is None:
            raise RuntimeError("the service is not started")
        return await self._outbox_producer.send(topic, payload, key=key, headers=_JSON)

    async def _publish_confirmed(self, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]) -> None:
        await self.broker.publish(value, topic, key=key, headers=headers)

    async def _metrics(self, _request: Request) -> Response:
        self.metrics.outbox_parked.set(await self.store.parked_count())
        body = await self.metrics.render(self.store.backlog, self.consumer_lag)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def consumer_lag(self) -> dict[TopicPartition, int]:
        """How far the service's consumer group is behind on each partition of its input topics."""
        topics = [intake.topic.name for intake in self.intakes]
        if not topics:
            return {}
        return await group_lag(
            self.settings.kafka_bootstrap_servers, self.name, topics, **self.settings.kafka_client_options()
        )

    async def _health(self, _request: Request) -> Response:
        kafka = await self.broker.ping(timeout=2)
        try:
            async with self.store.reading() as connection:
                await connection.execute(text("SELECT 1"))
            store = True
        except Exception:
            store = False
        ready = kafka and store
        body = {"status": "ready" if ready else "unavailable", "kafka": kafka, "store": store,
                "partitions_assigned": self._partitions_assigned()}
        return JSONResponse(body, status_code=200 if ready else 503)

    def _partitions_assigned(self) -> dict[str, bool]:
        """Per consumed topic, whether this instance holds partitions of it now. Not part of the
        status: a group joining (or an instance beyond the partition count) holds none for a while."""
        held = {partition.topic for subscriber in self.broker.subscribers
                if (consumer := getattr(subscriber, "consumer", None)) for partition in consumer.assignment()}
        return {intake.topic.name: intake.topic.name in held for intake in self.intakes}


_JSON = [("content-type", b"application/cloudevents+json")]


async def _logged(work: Callable[[], Awaitable[None]]) -> None:
    """A background task that dies is logged, not silently lost; the service keeps consuming."""
    try:
        await work()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task failed", task=_name(work))


def _name(work: Callable[[], Awaitable[None]]) -> str:
    return getattr(work, "__qualname__", None) or repr(work)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our event loop; the service, not uvicorn, owns the signals."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        super().__init__(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))
        self._task: asyncio.Task | None = None

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def start(self) -> None:
        self._task = asyncio.create_task(self.serve(), name="http")
        while not self.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises why the port could not be served

    async def stop(self) -> None:
        self.should_exit = True
        if self._task:
            await self._task


def run(settings_class: type[S], build: Callable[[S], Service]) -> None:
    """The entry point of a service process: `python -m services.<name>`."""
    settings = load_settings(settings_class)
    claim_sqlite_store(settings.service_name, settings.store_url)  # a second process on one SQLite file: exit 2
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    asyncio.run(_serve(build(settings)))


async def _serve(service: Service) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    starting = asyncio.create_task(service.start(), name="start")
    stop_asked = asyncio.create_task(stopping.wait())
    await asyncio.wait([starting, stop_asked], return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # asked to stop while still waiting for Kafka
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        log.info("stopped before Kafka answered")
        return
    try:
        starting.result()
    except KafkaRefusedUs as refused:  # ends the process with its one line, no traceback
        raise SystemExit(str(refused)) from None
    # What exists now (modules, schemas, the engine, clients) lives as long as the process: the
    # collector need not walk it again. Each full collection of it paused the loop for 0.1-0.15 s.
    gc.freeze()
    await stop_asked
    await service.stop()
