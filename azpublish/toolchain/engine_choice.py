"""Which engine runs: the one rule for the local build, the import check and the lock.

``container`` when asked for or when ``auto`` finds it usable (a daemon answers and the build
image is ready, built here when needed); ``auto`` falls back to the host side with a notice;
``--engine container`` makes an unusable container engine an error; ``wheels`` never tries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from azpublish.errors import BuildError

EngineChoice = Literal["auto", "container", "wheels"]
Ready = TypeVar("Ready")


def choose_engine(choice: EngineChoice, ready_container: Callable[[], Ready], *,
                  notice: Callable[[str], None], instead: str) -> Ready | None:
    """``ready_container()`` (which connects and readies the image, or raises ``BuildError``)
    when the container side is chosen and usable; None when the host side runs instead."""
    if choice == "wheels":
        return None
    try:
        return ready_container()
    except BuildError as error:
        if choice == "container":
            raise
        notice(f"the container engine is not usable ({error.what.splitlines()[0]}); {instead}")
        return None
