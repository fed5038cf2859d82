"""Container tests (marker `docker`): they skip, saying why, where no Docker engine answers or an image is
missing, unless CONTRACT_PAUSE_TEST_KAFKA=docker asks for containers (then they fail instead)."""

import pytest

from tests.e2e.containers import engine


def _docker_or_skip(*, service_image: bool) -> str:
    problem = engine.engine_problem()
    image = None
    if problem is None:
        image, source = engine.kafka_image()
        problem = None if image else source
    if problem is None and service_image and not engine.image_at_hand(engine.SERVICE_IMAGE, pull=False):
        problem = f"the service image {engine.SERVICE_IMAGE} is not built ({engine.BUILD_HINT})"
    if problem is not None:
        engine.skip_or_fail(problem)
    return image


@pytest.fixture(scope="module")
def kafka_image() -> str:
    """The Kafka image (skips without Docker or one)."""
    return _docker_or_skip(service_image=False)


@pytest.fixture(scope="module")
def images() -> str:
    """The Kafka image, with the service image built too (skips otherwise)."""
    return _docker_or_skip(service_image=True)
