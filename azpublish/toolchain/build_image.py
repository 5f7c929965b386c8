"""The build image: a Debian container of the target Python with pip and uv, built from
``Dockerfile.build`` once per recipe (Dockerfile, base image, Python, extra Debian packages) and
then found by tag; or a ready image named with ``--build-image``.

No index setting enters the image: the pip and uv wheels are fetched on the host (with the
toolchain's pip environment) into the build context, so the image build needs no index.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azpublish.cleanup import temporary_folder
from azpublish.errors import BuildError
from azpublish.redact import redact
from azpublish.runtime import Target
from azpublish.toolchain.containers import (
    OUTPUT_TAIL_LINES,
    ContainerRunner,
    docker_errors,
    docker_failure,
)
from azpublish.toolchain.installers import pip_download_installers
from azpublish.toolchain.sources import PackageSources

# Shipped inside the package (a link to the top-level Dockerfile.build of the repository), so
# a non-editable install, such as the GitHub Action's, finds it too.
DOCKERFILE = Path(__file__).resolve().parent.parent / "builders" / "Dockerfile.build"
IMAGE_REPOSITORY = "azpublish-build"
LABEL_HASH = "org.azpublish.dockerfile-sha256"
LABEL_PIP = "org.azpublish.pip-version"
LABEL_UV = "org.azpublish.uv-version"
DEFAULT_BASE = "python:{version}-slim-bookworm"
LOCAL_ONLY = "azpublish/"  # the provisioning script's base images: local, never pulled
PROVISION_HINT = ("build the local base images with `sudo bash scripts/provision-docker.sh`, "
                  "or pass --base-image IMAGE (env AZPUBLISH_BASE_IMAGE) naming an image "
                  "this Docker engine has or can pull")


@dataclass(frozen=True)
class BuiltImage:
    id: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def installer_version(self, installer: str) -> str:
        return self.labels.get(LABEL_UV if installer == "uv" else LABEL_PIP, "")


@dataclass(frozen=True)
class ImageOptions:
    base_image: str | None = None
    build_image: str | None = None  # a ready image: used as it is
    additional_packages: tuple[str, ...] = ()
    dockerfile: Path = DOCKERFILE


class BuildImages:
    """The build image of each target Python, built or found once per object."""

    def __init__(self, runner: ContainerRunner, options: ImageOptions) -> None:
        self.runner = runner
        self.options = options
        self._images: dict[str, BuiltImage] = {}  # python version -> image

    def ensure(self, target: Target, log: Callable[[str], None] | None = None) -> BuiltImage:
        cached = self._images.get(target.python_version)
        if cached is not None:
            return cached
        client = self.runner.client
        if self.options.build_image:
            image = self._ready(client, self.options.build_image)
        else:
            image = self._built(client, target, log if log is not None else (lambda _line: None))
        built = BuiltImage(str(image.id), dict(image.labels or {}))
        self._images[target.python_version] = built
        return built

    def _ready(self, client: Any, name: str) -> Any:
        import docker.errors

        try:
            return client.images.get(name)
        except docker.errors.ImageNotFound:
            raise BuildError(f"the build image {name!r} is not in this Docker engine",
                             where="--build-image",
                             fix=f"pull or build it first (docker pull {name}), or drop "
                                 "--build-image to let azpublish build one") from None
        except docker_errors() as error:
            raise docker_failure(error, f"looking up the build image {name!r}") from None

    def _built(self, client: Any, target: Target, log: Callable[[str], None]) -> Any:
        import docker.errors

        recipe = Recipe.make(self.options, target)
        try:
            image = client.images.get(recipe.tag)
            if (image.labels or {}).get(LABEL_HASH) == recipe.digest:
                return image
        except docker.errors.ImageNotFound:
            pass
        except docker_errors() as error:
            raise docker_failure(error, "looking up the build image") from None
        if recipe.base_image.startswith(LOCAL_ONLY) and not _has_image(client, recipe.base_image):
            # Never asked of a registry: a name there under azpublish/ is not ours to trust.
            raise BuildError(f"the base image {recipe.base_image!r} is not in this Docker "
                             "engine (images under azpublish/ are built locally, never pulled)",
                             where="--base-image", fix=PROVISION_HINT)
        dockerfile = self.options.dockerfile
        log(f"building {recipe.tag} from {dockerfile.name} on {recipe.base_image}")
        with temporary_folder("azpublish-build-context-") as context:
            shutil.copyfile(dockerfile, context / "Dockerfile.build")
            fetch_wheelhouse(context / "wheelhouse", recipe, target, log)
            self._build(client, context, recipe, log)
        try:
            return client.images.get(recipe.tag)
        except docker_errors() as error:
            raise docker_failure(error, "reading the image just built") from None

    def _build(self, client: Any, context: Path, recipe: Recipe,
               log: Callable[[str], None]) -> None:
        tail: list[str] = []
        failure: str | None = None
        try:
            for chunk in client.api.build(
                    path=str(context), dockerfile="Dockerfile.build", tag=recipe.tag,
                    buildargs=recipe.build_args, network_mode="host", rm=True, forcerm=True,
                    decode=True):
                text = str(chunk.get("stream") or chunk.get("status") or "")
                for line in text.splitlines():
                    if line.strip():
                        safe = redact(line.rstrip())
                        tail = [*tail[-(OUTPUT_TAIL_LINES - 1):], safe]
                        log(safe)
                if "error" in chunk:
                    failure = redact(str(chunk["error"]).strip())
        except docker_errors() as error:
            raise docker_failure(error, f"building {recipe.tag}") from None
        if failure is None:
            return
        if not _has_image(client, recipe.base_image):
            raise BuildError(
                f"the base image {recipe.base_image!r} is not available ({failure})",
                where="Dockerfile.build: FROM ${BASE_IMAGE}", fix=PROVISION_HINT)
        raise BuildError(f"building the build image {recipe.tag} failed: {failure}\n"
                         + "\n".join(tail),
                         where=f"{self.options.dockerfile} (BASE_IMAGE={recipe.base_image})",
                         fix="read the failing step above; a missing Debian package can be "
                             "added with --additional-packages, another base with --base-image")


def _has_image(client: Any, name: str) -> bool:
    try:
        client.images.get(name)
    except Exception:  # any failure means "not usable here"
        return False
    return True


@dataclass(frozen=True)
class Recipe:
    tag: str
    digest: str
    base_image: str
    pip_version: str
    uv_version: str
    build_args: dict[str, str]

    @classmethod
    def make(cls, options: ImageOptions, target: Target) -> Recipe:
        try:
            text = options.dockerfile.read_text(encoding="utf-8")
        except OSError as error:
            raise BuildError(f"cannot read the build image recipe: {error.strerror}",
                             where=str(options.dockerfile),
                             fix="reinstall azpublish from its source tree, or pass "
                                 "--build-image IMAGE") from None
        base = options.base_image or DEFAULT_BASE.format(version=target.python_version)
        for package in options.additional_packages:
            if not re.fullmatch(r"[a-z0-9][a-z0-9+.\-:=~]*", package):
                raise BuildError(f"{package!r} is not a Debian package name",
                                 where="--additional-packages",
                                 fix="give Debian package names separated by spaces")
        extra = " ".join(options.additional_packages)
        digest = hashlib.sha256("\0".join(
            [text, base, target.python_version, target.machine, extra]).encode()).hexdigest()
        return cls(tag=f"{IMAGE_REPOSITORY}:py{target.python_version}-{digest[:16]}",
                   digest=digest, base_image=base,
                   pip_version=_arg_default(text, "PIP_VERSION"),
                   uv_version=_arg_default(text, "UV_VERSION"),
                   build_args={"PYTHON_VERSION": target.python_version, "BASE_IMAGE": base,
                               "ADDITIONAL_PACKAGES": extra, "DOCKERFILE_SHA256": digest})


def _arg_default(dockerfile_text: str, name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", dockerfile_text, re.MULTILINE)
    if not match:
        raise BuildError(f"ARG {name}=... is missing", where="Dockerfile.build",
                         fix="restore the pinned installer versions in Dockerfile.build")
    return match.group(1)


def fetch_wheelhouse(folder: Path, recipe: Recipe, target: Target,
                     log: Callable[[str], None]) -> None:
    """pip and uv wheels for the image, fetched here with the host's package sources, so the
    image build needs no index configuration (and never sees a credential)."""
    folder.mkdir()
    command = pip_download_installers(sys.executable, target, str(folder),
                                      [f"pip=={recipe.pip_version}", f"uv=={recipe.uv_version}"])
    env = PackageSources.read().installer_environment("pip")
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600,
                            stdin=subprocess.DEVNULL, env=env)
    if result.returncode != 0:
        # The image then installs them from its default index (ordinary internet access).
        for wheel in folder.iterdir():
            wheel.unlink()
        last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        log("could not fetch pip and uv on this machine; the image build will download them: "
            + redact(last))
