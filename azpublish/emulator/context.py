"""Everything a request handler needs, in one object hung on the Starlette app's state."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from azpublish.emulator.config import EmulatorConfig, save_config
from azpublish.emulator.faults import FaultBook
from azpublish.emulator.holds import HoldRegistry
from azpublish.emulator.identity import EmulatorIdentity
from azpublish.emulator.keys import EmulatorKeys
from azpublish.emulator.layout import StateLayout
from azpublish.emulator.store import AppStore
from azpublish.emulator.tls import TlsFiles
from azpublish.emulator.tokens import TokenIssuer
from azpublish.emulator.urls import EmulatorUrls
from azpublish.redact import redact

JOURNAL_SIZE = 2000


class RequestJournal:
    """The last requests (method, path, api-version, status), redacted: what clients called."""

    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def record(self, **entry: Any) -> None:
        entry = {k: redact(v) if isinstance(v, str) else v for k, v in entry.items()}
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)


@dataclass
class EmulatorContext:
    layout: StateLayout
    identity: EmulatorIdentity
    keys: EmulatorKeys
    store: AppStore
    faults: FaultBook
    holds: HoldRegistry
    tokens: TokenIssuer
    urls: EmulatorUrls
    tls: TlsFiles
    config: EmulatorConfig
    log: Callable[[str], None]
    journal: RequestJournal = field(default_factory=RequestJournal)
    clock: Callable[[], float] = time.time
    # Set when the emulator begins to stop: long-lived answers (the log stream) end then.
    stopping: threading.Event = field(default_factory=threading.Event)

    def settings_delay(self, app: str) -> float:
        injected = self.faults.settings_delay(app)
        return injected if injected is not None else self.config.settings_propagation_delay

    def reconfigure(self, config: EmulatorConfig) -> None:
        self.config = config
        save_config(self.layout, config)


def context_of(request: Request) -> EmulatorContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, EmulatorContext)
    return ctx
