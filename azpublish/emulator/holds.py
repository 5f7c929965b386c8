"""Deployments held "in progress" by a ``hold`` fault, and their release.

A held deployment stops at each of its fault's stages until ``release`` is called once per stage
(or the hold timeout passes). Releases are counted, so a release that arrives just before the
deployment reaches its next stage is not lost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Hold:
    stages: tuple[str, ...]
    timeout: float
    _permits: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def wait(self, stage: str) -> None:
        if stage in self.stages:
            self._permits.acquire(timeout=self.timeout)

    def release(self) -> None:
        self._permits.release()


class HoldRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}

    @staticmethod
    def _key(app: str, slot: str | None) -> str:
        return f"{app.lower()}/{(slot or '').lower()}"

    def register(self, app: str, slot: str | None, hold: Hold) -> None:
        with self._lock:
            self._holds[self._key(app, slot)] = hold

    def forget(self, app: str, slot: str | None, hold: Hold) -> None:
        with self._lock:
            if self._holds.get(self._key(app, slot)) is hold:
                del self._holds[self._key(app, slot)]

    def release(self, app: str, slot: str | None) -> bool:
        """Let the held deployment of this site go on by one stage; False when none is held."""
        with self._lock:
            hold = self._holds.get(self._key(app, slot))
        if hold is None:
            return False
        hold.release()
        return True
