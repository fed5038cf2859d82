"""The four services as processes, as in tests/e2e, on a broker running in a container."""

from collections.abc import AsyncIterator

import pytest

from ops.demo import play
from shared.topics import ensure_topics
from tests.e2e.containers.engine import kafka_container
from tests.e2e.containers.story import check_story

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
async def registry_topics(kafka_image: str) -> AsyncIterator[str]:
    """Replaces the session's broker for this module: tests/e2e's `system` starts its services on this one."""
    with kafka_container(kafka_image) as broker:
        await ensure_topics(broker.bootstrap)
        yield broker.bootstrap


async def test_the_pause_story_plays_out_on_a_containerized_broker(system):
    lines: list[str] = []
    timeline = await play(system.bootstrap, say=lines.append, notification_url=system.services["notification"].url)
    check_story(timeline, lines)
