"""`contract-pause outbox`: the outbox rows a service parked because Kafka would not take them,
listed without their payloads, and put back in line for the service's relay once the cause is fixed."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from sqlalchemy.exc import DBAPIError

from shared.settings import BaseServiceSettings
from shared.store import Store

SERVICES = ("billing-monitor", "contract-state", "time-tracking", "notification")


def add_commands(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers action
    outbox = commands.add_parser("outbox", help="list or retry outbox rows a service parked")
    actions = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    parked = actions.add_parser("parked", help="list parked rows, oldest first (no payloads)")
    retry = actions.add_parser("retry", help="put parked rows back in line for the service's relay")
    retry_which = retry.add_mutually_exclusive_group(required=True)
    retry_which.add_argument("--seq", type=int, action="append", help="a parked row's seq (repeatable)")
    retry_which.add_argument("--all", action="store_true", help="every parked row")
    for action in (parked, retry):
        action.add_argument("--service", required=True, choices=SERVICES)
        action.add_argument("--database-url", help="the service's store (default: $DATABASE_URL, else var/<service>.db)")
    parked.set_defaults(handler=_parked)
    retry.set_defaults(handler=_retry)


def _store(arguments: argparse.Namespace) -> Store:
    url = arguments.database_url or os.environ.get("DATABASE_URL")
    settings = BaseServiceSettings(service_name=arguments.service, database_url=url, http_api=False)
    return Store(settings.store_url)


def _parked(arguments: argparse.Namespace) -> int:
    async def listed() -> list[dict[str, Any]]:
        store = _store(arguments)
        try:
            return await store.parked(limit=1000)
        finally:
            await store.close()

    try:
        rows = asyncio.run(listed())
    except DBAPIError as error:
        return _unreadable(arguments, error)
    for row in rows:
        print(f"{row['seq']:>8}  {row['parked_at']:%Y-%m-%d %H:%M:%S}  {row['topic']}  key={row['key']}  "
              f"{row['type']}  {row['size']} bytes  {row['parked_reason']}")
    print(f"{len(rows)} parked row(s) in {arguments.service}'s outbox")
    return 0


def _retry(arguments: argparse.Namespace) -> int:
    async def unparked() -> int:
        store = _store(arguments)
        try:
            return await store.unpark(None if arguments.all else arguments.seq)
        finally:
            await store.close()

    try:
        count = asyncio.run(unparked())
    except DBAPIError as error:
        return _unreadable(arguments, error)
    print(f"{count} row(s) back in line; {arguments.service}'s relay publishes them within a second")
    return 0


def _unreadable(arguments: argparse.Namespace, error: DBAPIError) -> int:
    print(f"contract-pause outbox: cannot read {arguments.service}'s outbox ({type(error.orig).__name__}); "
          "pass its store with --database-url, and start the service once so its tables exist")
    return 1
