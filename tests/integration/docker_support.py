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

from azpublish.builders.container import ContainerEngine
from azpublish.runtime import Target

# Target Python -> the base image provision-docker.sh debootstraps for it.
BASE_IMAGES = {"3.11": "azpublish/base:bookworm", "3.13": "azpublish/base:trixie"}
PROVISION = "run `sudo bash scripts/test-setup.sh` (make test runs it)"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker.errors

    from azpublish.builders.container import connect
    from azpublish.errors import BuildError

    try:
        client = connect()  # closes what it opened when the daemon does not answer
    except BuildError as error:
        pytest.skip(f"no Docker daemon answers ({error.what}); {PROVISION}")
    missing = []
    for image in BASE_IMAGES.values():
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    if missing:
        client.close()
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


def build_images() -> None:
    """Build (or find, by tag) the build image of every target: ``scripts/test-setup.sh`` runs
    this so the image's own downloads (Debian packages, pip and uv) happen in set-up, where
    the package clients may reach their registries, and never inside a test."""
    from azpublish.builders.container import connect

    client = connect()
    try:
        for version, base in BASE_IMAGES.items():
            engine = ContainerEngine(base_image=base, client_factory=lambda: client)
            engine.ensure_image(Target(version))
            print(f"build image for Python {version} on {base}: ready")
    finally:
        client.close()


if __name__ == "__main__":
    build_images()
