"""Records aiokafka itself cannot parse, such as a header name that is not UTF-8 (the wire allows it,
no well-behaved client writes it). aiokafka's fetcher raises on such a record on every fetch, so its
partition never moves on, and records it already took from other partitions in that call are lost.

`FetchResult.getall` is the one place records leave aiokafka's fetch buffer. Patched, it hands over
the records before the bad one, then an `UnparsableRecord` at the bad one's offset, and fetches again
after it: the intake dead-letters the stand-in like any record it cannot take.
"""

import dataclasses

from aiokafka import ConsumerRecord
from aiokafka.consumer import fetcher

from shared.logs import get_logger

log = get_logger(__name__)


@dataclasses.dataclass
class UnparsableRecord(ConsumerRecord):
    """Stands in for a record aiokafka could not parse: its place, no content."""

    error: str = ""


def _getall(self, max_records=None):  # noqa: ANN001, ANN202 - aiokafka's own signature
    tp = self._topic_partition
    if not self.check_assignment(tp) or not self.has_more():
        return []
    taken = []
    try:
        for record in self._partition_records:
            taken.append(record)
            if max_records is not None and len(taken) >= max_records:
                self._update_position()
                return taken
    except Exception as error:
        unparsed = self._partition_records
        offset = unparsed.next_fetch_offset  # the first offset not handed over: the record that failed
        log.warning("kafka record cannot be parsed; handed to the intake as unparsable",
                    topic=tp.topic, partition=tp.partition, offset=offset, error=type(error).__name__)
        taken.append(UnparsableRecord(tp.topic, tp.partition, offset, -1, 0, None, None, None, -1, -1, (),
                                      error=type(error).__name__))
        unparsed.next_fetch_offset = offset + 1
    self._update_position()
    self._partition_records = None
    return taken


def install() -> None:
    """Patch aiokafka's fetcher once; refuse loudly if its internals are not the ones this was written for."""
    result = fetcher.FetchResult
    expected = ("check_assignment", "has_more", "_update_position", "getall")
    if not all(hasattr(result, name) for name in expected):
        raise RuntimeError("aiokafka's FetchResult changed: review shared/unparsable.py for this aiokafka version")
    result.getall = _getall
