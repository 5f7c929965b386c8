"""Kudu (the SCM site) over ``requests``: settings, ZIP deploy, OneDeploy, deployments, logs.

Every call goes through ``_send``: bounded retries for transient failures (``RetryPolicy``), the
server's body and request id in every error, and no credential in any message. Uploads stream
from disk and are re-opened from the start for each attempt; a 409 (another deployment running)
waits for that deployment, bounded, then uploads again.

Credentials only ever travel to the SCM site's own origin: userinfo in the base URL is taken out
(and registered with the redactor), a URL the server hands back (``details_url``) on another
origin is re-based onto ours, and redirects are not followed.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from azpublish.azure.error_body import error_text
from azpublish.azure.retry import RetryPolicy, is_transient, retry_after_seconds
from azpublish.azure.upload_progress import AcknowledgedProgressAdapter, ProgressReader
from azpublish.errors import DeployError, PackageError
from azpublish.redact import redact, register_secret, register_url_credentials

USER_AGENT = "azpublish"
UPLOAD_TIMEOUT = (15.0, 600.0)  # connect, read: the server answers after the body is stored
CALL_TIMEOUT = (15.0, 60.0)
BODY_SHOWN = 600  # characters of a server's error body worth printing
DEFAULT_WAIT_IF_BUSY = 300.0  # seconds a 409 may wait for the running deployment
BUSY_POLL_INTERVAL = 5.0
REQUEST_ID_HEADERS = ("x-ms-request-id", "x-ms-correlation-request-id")
_QUERY = re.compile(r"\?[^\s'\")]*")
# A deployment id as Kudu makes them (GUIDs, with or without dashes, or temp-xxxxxxxx): letters,
# digits, dashes; anything else in a body is not taken for one.
_DEPLOYMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")


class KuduAuth(Protocol):
    @property
    def kind(self) -> str: ...

    def headers(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class BearerAuth:
    token: Callable[[], str] = field(repr=False)
    kind: str = "bearer"

    def headers(self) -> dict[str, str]:
        value = self.token()  # asked each attempt: a long deployment outlives a token
        register_secret(value)
        return {"Authorization": f"Bearer {value}"}


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str = field(repr=False)
    kind: str = "basic"

    def __post_init__(self) -> None:
        register_secret(self.password)

    def headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        register_secret(token)
        return {"Authorization": f"Basic {token}"}


@dataclass(frozen=True)
class Started:
    """What the deploy endpoint said when it accepted the package."""

    status_code: int  # 202 async; 200 sync (which says nothing about the build's outcome)
    deployment_id: str | None  # SCM-DEPLOYMENT-ID, when the server tracks progress
    location: str | None


def started_deployment_id(header: str | None, body: str, location: str | None) -> str | None:
    """The id of the deployment a deploy call started, from wherever the server put it.

    Linux Kudu sends ``SCM-DEPLOYMENT-ID`` (with ``trackDeploymentProgress``); Flex OneDeploy
    sends none, but answers the id as a JSON string and ``Location: .../api/deployments/<id>``.
    A ``Location`` of ``.../deployments/latest`` names no deployment in particular.
    """
    if header and header.strip():
        return header.strip()
    try:
        value = json.loads(body) if body.strip() else None
    except ValueError:
        value = None
    if isinstance(value, str) and _DEPLOYMENT_ID.fullmatch(value):
        return value
    if location:
        parts = urlsplit(location).path.rstrip("/").split("/")
        if len(parts) >= 3 and parts[-2].lower() == "deployments" and parts[-3].lower() == "api":
            candidate = unquote(parts[-1])
            if candidate.lower() != "latest" and _DEPLOYMENT_ID.fullmatch(candidate):
                return candidate
    return None


class KuduError(DeployError):
    """Kudu answered something other than what the call expects (or could not be reached)."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 status: int | None = None, request_id: str | None = None,
                 transient: bool = False) -> None:
        super().__init__(what, where=where, fix=fix)
        self.status = status
        self.request_id = request_id
        # The service or the network was in trouble (5xx, 429, no connection), not the request:
        # asking again later may well work.
        self.transient = transient


class AuthRejected(KuduError):
    """401/403 from Kudu; the caller may fall back to another credential."""


class DeploymentInProgress(KuduError):
    """409: another deployment runs on this app (and waiting for it did not help)."""


class _HeaderAuth(AuthBase):
    """Hands our header to requests as its auth, so neither URL userinfo nor ~/.netrc
    replaces it."""

    def __init__(self, auth: KuduAuth) -> None:
        self._auth = auth

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._auth.headers())
        return request


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _strip_credentials(url: str) -> str:
    """``url`` without userinfo, query or fragment (the password is registered as a secret)."""
    register_url_credentials(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _server_says(response: requests.Response) -> str:
    """The body's message, trimmed: ARM-style JSON errors unwrapped, whitespace collapsed."""
    text = response.text or ""
    try:
        data = response.json()
    except ValueError:
        data = None
    text = error_text(data) or text
    text = " ".join(text.split())
    return text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN] + "…"


def _upload_transient(response: requests.Response | None, error: BaseException | None) -> bool:
    """As ``is_transient``, but a read timeout after an upload is not retried: the server has
    the package and may be deploying it, so sending it again would start a second deployment."""
    return not isinstance(error, requests.ReadTimeout) and is_transient(response, error)


_STATUS_FIX = {
    400: "the server refused the request as sent; read its answer above",
    404: "check the app (and slot) name; on Flex Consumption only OneDeploy (/api/publish) "
         "exists",
    413: "the package is larger than the server accepts; exclude what the app does not need "
         "(.funcignore)",
}


class KuduClient:
    def __init__(self, base_url: str, auth: KuduAuth, *, verify: str | bool = True,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 busy_poll_interval: float = BUSY_POLL_INTERVAL,
                 upload_timeout: tuple[float, float] = UPLOAD_TIMEOUT,
                 call_timeout: tuple[float, float] = CALL_TIMEOUT) -> None:
        self.base_url = _strip_credentials(base_url).rstrip("/") + "/"
        self.auth = auth
        self.verify = verify  # passed per request: REQUESTS_CA_BUNDLE beats Session.verify
        self.retry = retry or RetryPolicy()
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # Upload progress counts what the server acknowledged (upload_progress.py).
            session.mount("https://", AcknowledgedProgressAdapter())
            session.mount("http://", AcknowledgedProgressAdapter())
        self.session = session
        self.clock = clock
        self.busy_poll_interval = busy_poll_interval
        self.upload_timeout = upload_timeout  # (connect, read) seconds
        self.call_timeout = call_timeout

    def __repr__(self) -> str:
        return f"KuduClient({self.base_url!r}, auth={self.auth.kind})"

    def close(self) -> None:
        """Close pooled connections (a session given to the constructor is the caller's)."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> KuduClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        data = self._json("GET", "api/settings")
        if not isinstance(data, dict):
            raise self._shape("GET", "api/settings", "a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}

    def is_deploying(self) -> bool:
        data = self._json("GET", "api/isdeploying")
        if not isinstance(data, dict) or "value" not in data:
            raise self._shape("GET", "api/isdeploying", 'an object with "value"')
        return str(data["value"]).strip().lower() == "true"

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        """The record; Kudu answers 202 while the deployment is in progress."""
        path = f"api/deployments/{quote(deployment_id, safe='')}"
        data = self._json("GET", path, expected=(200, 202))
        if not isinstance(data, dict):
            raise self._shape("GET", path, "a JSON object")
        return data

    def deployments(self) -> list[dict[str, Any]]:
        return self._list("api/deployments")

    def folder(self, path: str) -> list[dict[str, Any]] | None:
        """The entries of a folder through the VFS API (``path`` from ``/home``), or None
        when there is no such folder."""
        route = f"api/vfs/{quote(path.strip('/'))}/"
        response = self._send("GET", route, expected=(200, 404))
        if response.status_code == 404:
            return None
        try:
            data = response.json()
        except ValueError:
            raise self._shape("GET", route, "JSON", response) from None
        if not isinstance(data, list):
            raise self._shape("GET", route, "a JSON list", response)
        return [item for item in data if isinstance(item, dict)]

    def log(self, deployment_id: str) -> list[dict[str, Any]]:
        return self._list(f"api/deployments/{quote(deployment_id, safe='')}/log")

    def log_details(self, url: str) -> list[dict[str, Any]]:
        return self._list(url)

    def zipdeploy(self, package: Path, *, deployer: str, message: str,
                  progress: Callable[[int], None] | None = None,
                  wait_if_busy: float = DEFAULT_WAIT_IF_BUSY, track: bool = True,
                  asynchronous: bool = True) -> Started:
        """Upload ``package`` to ``/api/zipdeploy``.

        ``track`` asks for ``SCM-DEPLOYMENT-ID``; ``wait_if_busy`` bounds (in seconds) the
        wait for a deployment already running (0: fail at once with ``DeploymentInProgress``).
        """
        params = {"isAsync": str(asynchronous).lower(), "Deployer": deployer,
                  "message": message, "author": deployer}
        if track:
            params["trackDeploymentProgress"] = "true"
        return self._upload("api/zipdeploy", package, params, progress, wait_if_busy)

    def onedeploy(self, package: Path, *, remote_build: bool, deployer: str, message: str,
                  progress: Callable[[int], None] | None = None,
                  wait_if_busy: float = DEFAULT_WAIT_IF_BUSY, track: bool = True,
                  asynchronous: bool = True) -> Started:
        """Upload ``package`` to ``/api/publish`` (OneDeploy, the only way onto Flex)."""
        params = {"type": "zip", "async": str(asynchronous).lower(),
                  "RemoteBuild": str(remote_build).lower(), "Deployer": deployer,
                  "message": message, "author": deployer}
        if track:
            params["trackDeploymentProgress"] = "true"
        return self._upload("api/publish", package, params, progress, wait_if_busy)

    # -- plumbing -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL on this SCM site; a server-given URL on another origin is re-based."""
        parts = urlsplit(path)
        if not parts.scheme:  # relative, even "//host/...": it stays under base_url
            return urljoin(self.base_url, path.lstrip("/"))
        if _origin(path) == _origin(self.base_url):
            return path
        marker = parts.path.lower().find("/api/")
        if marker < 0 or parts.scheme.lower() not in ("https", "http"):
            raise DeployError(f"Kudu pointed at {redact(_strip_credentials(path))}, which is "
                              "not on the SCM site; azpublish does not send credentials there",
                              where=self._describe(""))
        rebased = urljoin(self.base_url, parts.path[marker + 1:])
        return f"{rebased}?{parts.query}" if parts.query else rebased

    def describe(self, path: str) -> str:
        """The URL of ``path`` as safe to print: no query string, no credentials."""
        return self._describe(path)

    def _describe(self, path: str) -> str:
        return redact(self.url(path).split("?", 1)[0])

    def _upload(self, path: str, package: Path, params: Mapping[str, str],
                progress: Callable[[int], None] | None, wait_if_busy: float) -> Started:
        if not package.is_file():
            raise PackageError(f"the package {package} does not exist or is not a file",
                               where=str(package), fix="build the package first")
        deadline = self.clock() + max(0.0, wait_if_busy)
        idle_conflicts = 0
        while True:
            try:
                return self._post_package(path, package, params, progress)
            except DeploymentInProgress as busy:
                if wait_if_busy <= 0:
                    raise
                waited = self._wait_until_idle(deadline)
                if waited is None:
                    raise DeploymentInProgress(
                        f"{busy.what}; still busy after waiting {wait_if_busy:g} s",
                        where=busy.where, status=409, request_id=busy.request_id,
                        fix=f"another deployment is running on the app; let it finish (see "
                        f"{self._describe('api/deployments')}), or allow a longer wait"
                    ) from None
                # A 409 while Kudu says nothing runs, twice: not a conflict that waiting fixes.
                idle_conflicts = idle_conflicts + 1 if waited == 0 else 0
                if idle_conflicts >= 2:
                    raise KuduError(
                        f"{busy.what}; Kudu reports no deployment in progress, so waiting "
                        "will not help", where=busy.where, status=409,
                        request_id=busy.request_id,
                        fix="read the server's answer; WEBSITE_RUN_FROM_PACKAGE set to a URL "
                        "also refuses deployments with 409") from None
                if waited == 0:
                    self._pause(deadline)

    def _wait_until_idle(self, deadline: float) -> int | None:
        """Poll ``is_deploying`` until it says no: how many waits that took; None past the
        deadline."""
        waits = 0
        while self.is_deploying():
            if self.clock() >= deadline:
                return None
            self._pause(deadline)
            waits += 1
        return waits

    def _pause(self, deadline: float) -> None:
        remaining = deadline - self.clock()
        self.retry.sleep(max(0.0, min(self.busy_poll_interval, remaining)))

    def _post_package(self, path: str, package: Path, params: Mapping[str, str],
                      progress: Callable[[int], None] | None) -> Started:
        size = package.stat().st_size

        readers: list[ProgressReader] = []  # this attempt's

        def body() -> IO[bytes] | ProgressReader:
            try:
                handle = package.open("rb")
            except OSError as error:
                raise PackageError(f"cannot read the package: {error}", where=str(package)
                                   ) from error
            if progress is None:
                return handle
            readers[:] = [ProgressReader(handle, size, progress)]
            return readers[0]

        response = self._send("POST", path, params=params, body=body,
                              headers={"Content-Type": "application/zip"},
                              expected=(200, 202), timeout=self.upload_timeout,
                              transient=_upload_transient)
        for reader in readers:
            reader.answered()
        location = response.headers.get("Location")
        return Started(response.status_code,
                       started_deployment_id(response.headers.get("SCM-DEPLOYMENT-ID"),
                                             response.text, location),
                       location)

    def _list(self, path: str) -> list[dict[str, Any]]:
        data = self._json("GET", path)
        if not isinstance(data, list):
            raise self._shape("GET", path, "a JSON list")
        return [item for item in data if isinstance(item, dict)]

    def _json(self, method: str, path: str, expected: tuple[int, ...] = (200,)) -> Any:
        response = self._send(method, path, expected=expected)
        try:
            return response.json()
        except ValueError:
            raise self._shape(method, path, "JSON", response) from None

    def _shape(self, method: str, path: str, wanted: str,
               response: requests.Response | None = None) -> KuduError:
        body = f": {_server_says(response)}" if response is not None and response.text else ""
        return KuduError(f"answered with something other than {wanted}{body}",
                         where=f"{method} {self._describe(path)}",
                         fix="is this URL the app's SCM (Kudu) site?")

    def _send(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
              body: Callable[[], Any] | None = None, headers: Mapping[str, str] | None = None,
              expected: tuple[int, ...] = (200,),
              timeout: tuple[float, float] | None = None,
              transient: Callable[[requests.Response | None, BaseException | None], bool]
              = is_transient) -> requests.Response:
        url = self.url(path)
        client_request_id = str(uuid.uuid4())  # the same for every attempt of one call
        bodies: list[object] = []  # the last attempt's body: how much of it was sent

        def send(attempt: int) -> requests.Response:
            data = body() if body else None
            bodies[:] = [data]
            try:
                return self.session.request(
                    method, url, params=params, data=data, timeout=timeout or self.call_timeout,
                    verify=self.verify,
                    auth=_HeaderAuth(self.auth), allow_redirects=False,
                    headers={"User-Agent": USER_AGENT,
                             "x-ms-client-request-id": client_request_id, **(headers or {})})
            finally:
                if data is not None:
                    data.close()

        outcome = self.retry.run(send, lambda r: r.status_code in expected,
                                 label=f"{method} {self._describe(path)}", transient=transient)
        if outcome.response is not None and outcome.error is None \
                and outcome.response.status_code in expected:
            return outcome.response
        stalled = any(isinstance(b, ProgressReader) and b.incomplete for b in bodies)
        raise self._failure(method, path, outcome.response, outcome.error, outcome.attempts,
                            client_request_id, stalled=stalled)

    def _failure(self, method: str, path: str, response: requests.Response | None,
                 error: Exception | None, attempts: int, client_request_id: str, *,
                 stalled: bool = False) -> KuduError:
        where = f"{method} {self._describe(path)}"
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        if stalled and isinstance(error, requests.RequestException):
            timed_out = isinstance(error, requests.Timeout) or "timed out" in str(error)
            why = (f"nothing more was taken for {self.upload_timeout[1]:.0f} s" if timed_out
                   else _QUERY.sub("", f"{type(error).__name__}: {error}"))
            return KuduError(f"the upload stalled{tried}: Kudu stopped taking the package "
                             f"before its end ({why}); a package that did not arrive whole is "
                             "not deployed", where=where, transient=True,
                             fix="check the network to the SCM site, then publish again")
        if isinstance(error, requests.ReadTimeout) and method == "POST":
            return KuduError("Kudu took the upload but did not answer in time; a deployment may "
                             "be running", where=where,
                             fix="look at the deployments at "
                             f"{self._describe('api/deployments')} before publishing again")
        if response is None:
            reason = _QUERY.sub("", f"{type(error).__name__}: {error}")
            return KuduError(f"could not reach Kudu{tried}: {reason}", where=where,
                             fix="check the network, the CA bundle and the app's SCM site; "
                             "retry later", transient=is_transient(None, error))
        status = response.status_code
        request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS
                           if response.headers.get(h)), None)
        detail = _server_says(response)
        what = f"answered {status}{tried}" + (f": {detail}" if detail else "")
        asked = retry_after_seconds(response)
        if asked is not None and asked > self.retry.max_retry_after:
            what += (f"; it asked to be retried after {asked:.0f} s, longer than azpublish "
                     f"waits ({self.retry.max_retry_after:.0f} s)")
        what += (f" (request id {request_id})" if request_id
                 else f" (client request id {client_request_id})")
        if status in (401, 403):
            return AuthRejected(what, where=where, status=status, request_id=request_id,
                                fix=f"the {self.auth.kind} credential was refused: check the "
                                "publishing credentials, the scm basic-auth policy "
                                "(basicPublishingCredentialsPolicies/scm), or your role on the "
                                "app")
        if status == 409:
            return DeploymentInProgress(what, where=where, status=status, request_id=request_id,
                                        fix="another deployment is running on the app; wait "
                                        "for it to finish")
        fix = _STATUS_FIX.get(status) or (
            "the service failed; retry later" if status >= 500 else "read the server's answer")
        return KuduError(what, where=where, fix=fix, status=status, request_id=request_id,
                         transient=status >= 500 or is_transient(response, None))
