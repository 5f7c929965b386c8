"""Kudu's VFS API, ``/api/vfs/{path}`` (GET, HEAD, PUT, DELETE), rooted at the site's ``/home``.

As Kudu answers it: a folder is asked for with a trailing slash (without one: 307 to it) and
lists its entries (name, size, mtime, crtime, mime, href, path); a file answers its bytes with an
ETag built from its modification time. PUT creates a file (201) or replaces one (204), which
needs ``If-Match`` with ``*`` or the current ETag (none: 412; another: 412 with the current one);
a path ending in ``/`` makes a folder (201; 409 when it exists). DELETE removes a file (the same
``If-Match`` rule, but a stale ETag is 409, as on Kudu) or an empty folder (``?recursive=true``:
a full one).

Unlike Kudu, writes under ``site/wwwroot`` are refused (409) while a deployment holds the site:
the deployment replaces that folder, and a file written meanwhile would be lost or break it.
Where paths map and what is refused: ``vfs_paths``.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import shutil
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from azpublish.emulator.context import EmulatorContext
from azpublish.emulator.model import App, Site
from azpublish.emulator.responses import lower_query, text, truthy
from azpublish.emulator.uploads import UploadBroken, UploadTooLarge, receive_upload
from azpublish.emulator.vfs_paths import SiteRoots, VfsRefused, VfsTarget, inside, resolve

_DOTNET_EPOCH_TICKS = 621355968000000000  # .NET ticks (100 ns) at 1970-01-01
# Kudu's own additions to the extension map, before the platform's.
_KUDU_TYPES = {".js": "application/javascript", ".json": "application/json",
               ".log": "text/plain", ".md": "text/plain"}
CANNOT_UPDATE_DIRECTORY = "The path names a folder, and a folder cannot be replaced."
CANNOT_DELETE_DIRECTORY = "The folder cannot be deleted: it is not empty (use ?recursive=true)."
MISSING_IF_MATCH = ("Replacing or deleting an existing file needs an If-Match header: '*' or "
                    "the file's current ETag.")
STALE_ETAG = "The ETag does not match the file's current state."
DEPLOYING = ("A deployment is in progress on this site; the emulator refuses changes under "
             "/home/site/wwwroot until it has finished, since the deployment replaces it.")


class _Conflict(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def roots_of(ctx: EmulatorContext, site: Site) -> SiteRoots:
    return SiteRoots(wwwroot=ctx.layout.wwwroot(site.app, site.slot),
                     log_files=ctx.layout.log_files(site.app, site.slot))


async def vfs_endpoint(request: Request, ctx: EmulatorContext, app: App, site: Site,
                       raw: str) -> Response:
    """``raw`` is the request path after ``/api/vfs``, in its own case."""
    method = request.method
    if method not in ("GET", "HEAD", "PUT", "DELETE"):
        return Response(status_code=405, headers={"Allow": "GET, HEAD, PUT, DELETE"})
    try:
        target = resolve(roots_of(ctx, site), raw, writing=method in ("PUT", "DELETE"))
    except VfsRefused as refused:
        return text(refused.message, refused.status)
    vfs = _Vfs(ctx, app, site, request)
    if method in ("GET", "HEAD"):
        return await to_thread.run_sync(vfs.get, target)
    if method == "PUT":
        return await vfs.put(target)
    return await to_thread.run_sync(vfs.delete, target, truthy(lower_query(request)
                                                               .get("recursive")))


# -- what Kudu shows of a file ------------------------------------------------------------------


def etag(info: os.stat_result) -> str:
    """Kudu's ETag: the modification time in .NET ticks, as little-endian bytes in hex."""
    ticks = info.st_mtime_ns // 100 + _DOTNET_EPOCH_TICKS
    return f'"{ticks.to_bytes(8, "little").hex()}"'


def mime_of(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _KUDU_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def dotnet_time(epoch_ns: int) -> str:
    """A UTC time as Json.NET writes a DateTimeOffset: 7 fraction digits, trailing zeros cut."""
    moment = dt.datetime.fromtimestamp(epoch_ns // 10**9, dt.timezone.utc)
    fraction = f"{epoch_ns % 10**9 // 100:07d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "+00:00"


def _matches(header: str | None, current: str, *, weak: bool) -> bool:
    """Whether an If-Match header names ``current`` (or ``*``); ``weak``: W/ tags count too."""
    for tag in (t.strip() for t in (header or "").split(",")):
        if tag == "*" or tag == current or (weak and tag.removeprefix("W/") == current):
            return True
    return False


@dataclass
class _Vfs:
    ctx: EmulatorContext
    app: App
    site: Site
    request: Request

    def _url(self, relative: str, *, slash: bool) -> str:
        """The external URL of a VFS path (with the request's query, as Kudu's links keep)."""
        path = quote(relative) + ("/" if slash and relative else "")
        query = f"?{self.request.url.query}" if self.request.url.query else ""
        return f"{self.ctx.urls.scm_url(self.app.name, self.site.slot)}/api/vfs/{path}{query}"

    def _entry(self, target: VfsTarget, name: str, real: Path) -> dict[str, object] | None:
        try:
            info = real.lstat()
        except OSError:
            return None  # gone since the folder was read
        folder = stat.S_ISDIR(info.st_mode)
        created = getattr(info, "st_birthtime_ns", None) or min(info.st_ctime_ns,
                                                                 info.st_mtime_ns)
        return {"name": name, "size": 0 if folder else info.st_size,
                "mtime": dotnet_time(info.st_mtime_ns), "crtime": dotnet_time(created),
                "mime": "inode/directory" if folder else mime_of(name),
                "href": self._url(f"{target.relative}/{name}".lstrip("/"), slash=folder),
                "path": str(target.virtual / name)}

    def _listing(self, target: VfsTarget, children: list[tuple[str, Path]]) -> Response:
        entries = [self._entry(target, name, real) for name, real in children]
        return JSONResponse([entry for entry in entries if entry is not None])

    def get(self, target: VfsTarget) -> Response:
        if target.real is None:  # a folder the emulator only lists: shown with the site's times
            if not target.slash:
                return RedirectResponse(self._url(target.relative, slash=True), status_code=307)
            site_dir = self.ctx.layout.site_dir(self.app.name, self.site.slot)
            return self._listing(target, [(name, site_dir) for name in target.children])
        if target.real == target.root:
            target.real.mkdir(parents=True, exist_ok=True)  # LogFiles exists before any log
        try:
            info = target.real.stat()
        except OSError:
            return text(f"'{target.virtual}' not found.", 404)
        if stat.S_ISDIR(info.st_mode):
            if not target.slash:
                return RedirectResponse(self._url(target.relative, slash=True), status_code=307)
            children = sorted(target.real.iterdir(), key=lambda p: p.name)
            return self._listing(target, [(child.name, child) for child in children])
        if target.slash:
            return RedirectResponse(self._url(target.relative, slash=False), status_code=307)
        tag = etag(info)
        if _matches(self.request.headers.get("if-none-match"), tag, weak=True):
            return Response(status_code=304, headers={"ETag": tag})
        return FileResponse(target.real, media_type=mime_of(target.real.name), stat_result=info,
                            headers={"ETag": tag})

    # -- changes -----------------------------------------------------------------------------

    def _guard(self, target: VfsTarget) -> None:
        """Refuse changes under wwwroot while a deployment holds the site, and a path a link
        made since it was resolved now leads out of (the store's lock is held)."""
        if target.in_wwwroot and self.site.deploying is not None:
            raise _Conflict(text(DEPLOYING, 409))
        if target.real is not None and target.root is not None and \
                not inside(target.real, target.root):
            raise _Conflict(text(f"'{target.virtual}' now resolves outside the site's files.",
                                 403))

    def _precondition(self, target: VfsTarget, *, stale: int) -> str | None:
        """The current ETag of an existing file; _Conflict when If-Match does not allow the
        change (412 without it; ``stale`` when it names another version)."""
        assert target.real is not None
        try:
            info = target.real.stat()
        except FileNotFoundError:
            return None
        current = etag(info)
        header = self.request.headers.get("if-match")
        if header is None:
            raise _Conflict(text(MISSING_IF_MATCH, 412))
        if not _matches(header, current, weak=stale == 412):
            raise _Conflict(text(STALE_ETAG, stale, {"ETag": current}))
        return current

    async def put(self, target: VfsTarget) -> Response:
        real = target.real
        if real is None or real.is_dir():
            return text(CANNOT_UPDATE_DIRECTORY, 409)
        if target.slash:
            return await to_thread.run_sync(self._make_folder, target)
        try:  # refuse before the upload, as Kudu does; checked again once it is in
            await to_thread.run_sync(lambda: self._precondition(target, stale=412))
        except _Conflict as conflict:
            return conflict.response
        upload = self.ctx.layout.uploads_dir / f"vfs-{uuid.uuid4().hex}.part"
        try:
            await receive_upload(self.request, upload, limit=self.ctx.config.max_upload_bytes)
            return await to_thread.run_sync(self._commit, target, upload)
        except UploadTooLarge as too_large:
            return text(f"Request Entity Too Large: {too_large}", 413)
        except UploadBroken as broken:
            return text(f"The upload did not complete: {broken}", 400)
        finally:
            upload.unlink(missing_ok=True)

    def _make_folder(self, target: VfsTarget) -> Response:
        assert target.real is not None
        with self.ctx.store.lock:
            try:
                self._guard(target)
                target.real.mkdir(parents=True)
            except _Conflict as conflict:
                return conflict.response
            except OSError as error:
                return text(f"Could not create '{target.virtual}': {error.strerror}.", 409)
        return Response(status_code=201)

    def _commit(self, target: VfsTarget, upload: Path) -> Response:
        """Move the received file into place, under the store's lock (deployments and swaps
        take it too), checking again what was checked before the upload."""
        real = target.real
        assert real is not None
        with self.ctx.store.lock:
            try:
                self._guard(target)
                before = self._precondition(target, stale=412)
                # Kudu's ETag is the mtime: make sure a rewrite within one clock tick changes it.
                old = real.stat().st_mtime_ns if before is not None else 0
                now = max(time.time_ns(), old + 100)
                os.utime(upload, ns=(now, now))
                upload.chmod(0o644)
                real.parent.mkdir(parents=True, exist_ok=True)
                upload.replace(real)
            except _Conflict as conflict:
                return conflict.response
            except OSError as error:
                return text(f"Could not write '{target.virtual}': {error.strerror}.", 409)
            info = real.stat()
        headers = {"ETag": etag(info), "Last-Modified": _http_date(info)}
        return Response(status_code=201 if before is None else 204, headers=headers)

    def delete(self, target: VfsTarget, recursive: bool) -> Response:
        real = target.real
        if target.is_root or real is None:
            return text(f"The emulator does not delete '{target.virtual}' itself; delete what "
                        "is in it.", 403)
        with self.ctx.store.lock:
            try:
                self._guard(target)
                if real.is_dir() and not real.is_symlink():
                    return self._delete_folder(target, real, recursive)
                if not real.exists():
                    return text(f"'{target.virtual}' not found.", 404)
                if target.slash:
                    return RedirectResponse(self._url(target.relative, slash=False),
                                            status_code=307)
                self._precondition(target, stale=409)
                real.unlink()
            except _Conflict as conflict:
                return conflict.response
            except OSError as error:
                return text(f"Could not delete '{target.virtual}': {error.strerror}.", 404)
        return Response(status_code=200)

    @staticmethod
    def _delete_folder(target: VfsTarget, real: Path, recursive: bool) -> Response:
        try:
            if recursive:
                shutil.rmtree(real)  # never follows symbolic links: it removes them
            else:
                real.rmdir()
        except OSError:
            return text(CANNOT_DELETE_DIRECTORY, 409)
        return Response(status_code=200)


def _http_date(info: os.stat_result) -> str:
    moment = dt.datetime.fromtimestamp(info.st_mtime, dt.timezone.utc)
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
