"""Kudu's log stream, ``GET /api/logstream[/{folder}]``: the site's log files, live.

As Kudu sends it (``text/event-stream``, but plain lines rather than events): a welcome line,
the last 10 lines of each log file under ``/home/LogFiles`` (or the sub-folder named, such as
``application``, matched in any case), then every line appended to them as it comes (``?filter=``
keeps those containing a word), with a heartbeat line whenever nothing came for a while. It ends
when the client goes away, after ``SCM_LOGSTREAM_TIMEOUT`` seconds without a new line (as Kudu),
after ``logstream_timeout_seconds`` in all (the emulator's bound), or when the emulator stops.
What the log files hold: ``sitelogs``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from azpublish.emulator import sitelogs
from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.kudu_settings import kudu_settings
from azpublish.emulator.model import App, Site
from azpublish.emulator.responses import lower_query, text
from azpublish.emulator.vfs_paths import HOME, VfsRefused, inside, path_segments

TAIL_LINES = 10
POLL_SECONDS = 0.25
KUDU_IDLE_DEFAULT = 7200.0  # SCM_LOGSTREAM_TIMEOUT when the setting is missing or unreadable


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class _Limits:
    heartbeat: float
    idle: float  # Kudu's SCM_LOGSTREAM_TIMEOUT
    total: float  # the emulator's own bound


def _limits(ctx: EmulatorContext, app: App, site: Site) -> _Limits:
    try:
        idle = float(kudu_settings(ctx, app, site).get("SCM_LOGSTREAM_TIMEOUT", ""))
    except ValueError:
        idle = KUDU_IDLE_DEFAULT
    return _Limits(heartbeat=ctx.config.logstream_heartbeat_seconds, idle=max(idle, 0.0),
                   total=ctx.config.logstream_timeout_seconds)


def _folder(ctx: EmulatorContext, site: Site, sub: str) -> tuple[Path, str]:
    """The folder to follow and its /home path; ``sub`` names a folder under LogFiles, matched
    case-insensitively (Kudu's paths are Windows-born: ``/api/logstream/application``)."""
    log_files = ctx.layout.log_files(site.app, site.slot)
    folder = log_files
    for part in path_segments(sub):
        known = [c for c in folder.iterdir() if c.is_dir()] if folder.is_dir() else []
        folder = next((c for c in known if c.name.lower() == part.lower()), folder / part)
    if not inside(folder, log_files):
        raise VfsRefused(403, f"'{sub}' resolves outside the site's LogFiles (a symbolic link).")
    return folder, str(HOME / "LogFiles" / folder.relative_to(log_files))


def logstream_endpoint(request: Request, ctx: EmulatorContext, app: App, site: Site,
                       sub: str) -> Response:
    """``sub`` is the path after ``logstream`` (may be empty)."""
    if request.method != "GET":
        return Response(status_code=400)  # Kudu's answer to any other method
    try:
        folder, shown = _folder(ctx, site, sub)
    except VfsRefused as refused:
        return text(refused.message, refused.status)
    stream = _Stream(ctx, site, folder, shown, _limits(ctx, app, site),
                     (lower_query(request).get("filter") or "").lower())
    return StreamingResponse(stream.lines(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@dataclass
class _Stream:
    ctx: EmulatorContext
    site: Site
    folder: Path
    shown: str  # the folder as /home/LogFiles/...
    limits: _Limits
    word: str  # ?filter=, lower case; "" keeps every line

    def _vfs_url(self, path: Path) -> str:
        relative = path.relative_to(self.ctx.layout.log_files(self.site.app, self.site.slot))
        scm = self.ctx.urls.scm_url(self.site.app, self.site.slot)
        return f"{scm}/api/vfs/LogFiles/{quote(relative.as_posix())}"

    def _recent(self) -> tuple[str, dict[Path, int]]:
        """The tail of each file, and where each file ends now."""
        parts: list[str] = []
        offsets: dict[Path, int] = {}
        log_files = self.ctx.layout.log_files(self.site.app, self.site.slot)
        for path in sitelogs.log_files(self.folder):
            try:
                offsets[path] = path.stat().st_size
            except OSError:
                continue  # moved away since it was listed
            lines = sitelogs.tail(path, TAIL_LINES)
            if lines:
                virtual = HOME / "LogFiles" / path.relative_to(log_files)
                parts.append(f"\n{virtual} ({self._vfs_url(path)})\n" + "\n".join(lines) + "\n")
        return "".join(parts), offsets

    def _new(self, offsets: dict[Path, int]) -> list[str]:
        lines = sitelogs.read_new(sitelogs.log_files(self.folder), offsets)
        return [line for line in lines if self.word in line.lower()]

    async def lines(self) -> AsyncIterator[str]:
        yield f"{_now()}  Welcome, you are now connected to log-streaming service.\n"
        recent, offsets = await to_thread.run_sync(self._recent)
        if recent:
            yield recent
        yield f"\n{_now()}  Following {self.shown} (lines as they come) ...\n"
        started = last_line = last_word = time.monotonic()
        poll = min(POLL_SECONDS, self.limits.heartbeat or POLL_SECONDS)
        while not self.ctx.stopping.is_set():
            await asyncio.sleep(poll)
            new = await to_thread.run_sync(self._new, offsets)
            now = time.monotonic()
            if new:
                last_line = last_word = now
                yield "".join(f"{line}\n" for line in new)
                continue
            quiet = now - last_line
            if quiet >= self.limits.idle or now - started >= self.limits.total:
                yield f"{_now()}  Stream terminated due to timeout {int(quiet // 60)} min(s).\n"
                return
            if now - last_word >= self.limits.heartbeat:
                last_word = now
                yield f"{_now()}  No new trace in the past {int(quiet // 60)} min(s).\n"
        yield f"{_now()}  The emulator is stopping; the log stream ends.\n"
