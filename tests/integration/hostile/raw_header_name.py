"""Publishes one record whose header *name* is not UTF-8, which no well-behaved client writes but
the wire allows (a producer in another language, a corrupted proxy).

    AIOKAFKA_NO_EXTENSIONS=1 python -m tests.integration.hostile.raw_header_name <bootstrap> <topic> <key> <value file>

aiokafka's pure-Python record builder encodes header names with `str.encode`; a name that
encodes to raw bytes gets them onto the wire unchanged (its C builder would not).
"""

import asyncio
import os
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer

NAME_BYTES = b"\xff\xfe-origin"


class RawName(str):
    def encode(self, *_args: object, **_kwargs: object) -> bytes:  # type: ignore[override]
        return NAME_BYTES


async def main(bootstrap: str, topic: str, key: str, value_file: str) -> None:
    if not os.environ.get("AIOKAFKA_NO_EXTENSIONS"):
        raise SystemExit("run with AIOKAFKA_NO_EXTENSIONS=1 (the C record builder re-encodes names)")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topic, Path(value_file).read_bytes(), key=key.encode(),
                                                headers=[(RawName("origin"), b"v")])
        print(f"{metadata.partition} {metadata.offset}")
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
