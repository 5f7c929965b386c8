"""Fixtures for tests that run real containers.

``docker_client`` answers only when a daemon does and the registry-free base images made by
``scripts/provision-docker.sh`` exist; otherwise the test is skipped with the reason (and the
integration conftest turns that skip into a failure under CI=true). ``container_engines`` builds
(or reuses, by tag) one build image per target Python for the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from azpublish.build.audit import Target
from azpublish.build.container import ContainerEngine

# Target Python -> the base image provision-docker.sh debootstraps for it.
BASE_IMAGES = {"3.11": "azpublish/base:bookworm", "3.13": "azpublish/base:trixie"}
PROVISION = "run `sudo bash scripts/provision-docker.sh`"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker
    import docker.errors

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        pytest.skip(f"no Docker daemon answers ({error}); {PROVISION}")
    missing = []
    for image in BASE_IMAGES.values():
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    if missing:
        pytest.skip(f"base images {', '.join(missing)} are missing; {PROVISION}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def container_engines(docker_client: Any) -> dict[str, ContainerEngine]:
    """Target Python version -> an engine whose build image exists (built once per session)."""
    engines = {}
    for version, base in BASE_IMAGES.items():
        engine = ContainerEngine(base_image=base, client_factory=lambda: docker_client)
        engine.ensure_image(Target(version))
        engines[version] = engine
    return engines
