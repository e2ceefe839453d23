"""HTTP only: talk to the ClinicalTrials.gov API v2 and return the pages exactly as received.

Politeness and robustness come from one :class:`requests.Session` with
connect/read timeouts, a descriptive User-Agent (``trialmap/<version>
(+<project URL>)``, without the HTTP library's name), a minimum interval between
requests (about one per second by default) and a :class:`urllib3.util.Retry`
mounted on it: exponential backoff on connection errors, read errors, 429 and
5xx, honouring ``Retry-After`` (capped), with a bounded total. Connection
errors are retried only once, so an unreachable API (no network) fails within
seconds rather than minutes.

HTTP 403 is a refusal, not "busy": the service in front of ClinicalTrials.gov
has refused Python HTTP clients with a persistent 403 (keyed on the TLS
fingerprint or the User-Agent). A 403 is retried once, over a connection whose
TLS version is at most 1.2 (the fix one maintained client found); a second 403
raises :class:`~trialmap.errors.ApiRefusedError`, which says how to get the data
another way (the website's download + ``trialmap import``).

Every response is bounded: at most ``max_bytes`` bytes of body (counted while
streaming, after content decoding; :data:`MAX_BYTES`, 256 MiB, by default) and
at most ``deadline`` seconds per attempt, from sending the request to the last
byte of the body (:data:`DEADLINE`, 90 s). A watchdog timer shuts the socket at
the deadline, so a server that sends one byte every few seconds (which never
trips the per-read timeout) or an endless body ends with one error, not a fetch
that runs or grows forever.

What urllib3 cannot retry (a body cut off mid-way, a body that is not JSON, a
paging run that does not add up) restarts paging from page 1, because page
tokens cannot be reused later; the number of restarts is bounded too.

Nothing here writes files: :func:`fetch_full` and :func:`fetch_changes` return
a :class:`FetchRun` that :func:`trialmap.snapshot.write_fetched` stores.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

import trialmap
from trialmap.errors import (
    ApiRefusedError,
    ApiResponseError,
    ApiUnavailableError,
    ResponseTooLargeError,
    TooManyStudiesError,
)
from trialmap.query import DEFAULT_API_URL, Query

log = logging.getLogger(__name__)

#: The project's home, named in the User-Agent (also ``[project.urls]`` in pyproject.toml).
PROJECT_URL = "https://github.com/trialmap/trialmap"
USER_AGENT = f"trialmap/{trialmap.__version__} (+{PROJECT_URL})"
#: (connect, read) seconds. A short connect timeout keeps "no network" fast.
TIMEOUT = (3.05, 60.0)
#: Seconds one attempt may take from sending the request to the body's last byte.
DEADLINE = 90.0
#: Bytes one response body may have (after decoding). A page of 1,000 studies with the
#: default ``fields=`` is about 10 MB; full records with results rarely pass 100 MB.
MAX_BYTES = 256 * 2**20
#: HTTP answers that mean "busy or temporarily down": retried with backoff. 403 is not
#: among them: it is retried once over TLS 1.2, then reported as a refusal.
RETRY_STATUS = (429, 500, 502, 503, 504)
#: How many ids one ``filter.ids`` request names (keeps the URL well under 8 KB).
IDS_PER_REQUEST = 200
#: The API's largest page.
MAX_PAGE_SIZE = 1000

Progress = Callable[[int, int], None]

REFUSED_ADVICE = (
    "probably bot protection in front of the API, which waiting or retrying does not get past. "
    "Get the data another way: search on https://clinicaltrials.gov, choose Download (CSV or "
    "JSON) and run `trialmap import FILE`; or use the bulk download of all study records "
    "(clinicaltrials.gov > Data API > How to download study records)"
)


# -- the per-attempt deadline --------------------------------------------------------------------

_local = threading.local()


class _DeadlineExceeded(Exception):
    """Raised inside urllib3 when an attempt would start after its request's deadline fired."""


def _shutdown(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        # The plain socket's shutdown, also for an SSL socket: it wakes a thread blocked in
        # recv() without touching the SSL object that thread is using.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watch:
    """A watchdog for one request: at ``seconds`` after an attempt starts it shuts the socket.

    Armed by the connection when an attempt starts (connect or send), paused while
    urllib3 waits between attempts (a ``Retry-After`` wait is not the server being
    slow), stopped when the body has been read. Once fired, no further attempt of
    the same request starts.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self.attached = False  # armed by a watched connection at least once
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._conn: Any = None

    def arm(self, conn: Any) -> None:
        with self._lock:
            if self.fired:
                raise _DeadlineExceeded
            self.attached = True
            if self._timer is not None and self._conn is conn:
                return  # the same attempt: connect() then request()
            self._cancel()
            self._conn = conn
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def pause(self) -> None:
        with self._lock:
            self._cancel()

    stop = pause

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._conn = None, None

    def _fire(self) -> None:
        with self._lock:
            if self._timer is None:
                return
            self.fired = True
            conn = self._conn
        _shutdown(conn)


class _Watched:
    """Mixin for urllib3 connections: every attempt arms the current request's watchdog."""

    def connect(self) -> None:
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.arm(self)
        super().connect()  # type: ignore[misc]
        if watch is not None and watch.fired:
            _shutdown(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.arm(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class Adapter(HTTPAdapter):
    """requests' adapter with watched connections and, optionally, a TLS version cap.

    Parameters
    ----------
    tls_max
        ``ssl.TLSVersion.TLSv1_2`` makes the SSL context's ``maximum_version`` TLS 1.2
        (used for the one retry after an HTTP 403); ``None``: the library's default.
    """

    def __init__(self, *, tls_max: ssl.TLSVersion | None = None, **kwargs: Any) -> None:
        self.tls_max = tls_max  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        if self.tls_max is not None:
            ctx = create_urllib3_context()
            ctx.maximum_version = self.tls_max
            pool_kwargs["ssl_context"] = ctx
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class _Retry(Retry):
    """urllib3's Retry, but the first retry also waits (urllib3 retries the first one at once),
    and the request's deadline does not run while it waits."""

    def get_backoff_time(self) -> float:
        n = len(self.history)
        if n == 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (n - 1)))

    def sleep(self, response: Any = None) -> None:
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.pause()
        super().sleep(response)


def make_retry(backoff_factor: float = 1.0, *, status: int = 5, read: int = 2, connect: int = 1,
               retry_after_max: int = 120) -> Retry:
    """The retry policy mounted on the session (bounded in every dimension).

    Parameters
    ----------
    backoff_factor
        Seconds; waits are ``backoff_factor * 2**(n-1)`` before retry n, at
        most 60 s, unless the server sends ``Retry-After`` (honoured on
        429/503, at most ``retry_after_max`` seconds).
    status, read, connect
        Retries per kind of failure; ``total`` is their sum.
    """
    return _Retry(
        total=status + read + connect,
        connect=connect,
        read=read,
        status=status,
        other=0,
        redirect=3,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUS,
        backoff_factor=backoff_factor,
        backoff_max=60,
        raise_on_status=False,  # the last answer comes back; we turn it into one clear error
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
    )


def make_session(retry: Retry | None = None, user_agent: str = USER_AGENT, *,
                 tls_max: ssl.TLSVersion | None = None) -> requests.Session:
    """A session with the retry policy mounted for http and https and the User-Agent set.

    ``tls_max`` caps the TLS version of https connections (see :class:`Adapter`).
    """
    s = requests.Session()
    adapter = Adapter(max_retries=retry or make_retry(), tls_max=tls_max)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    s.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
    return s


@dataclass(frozen=True)
class Page:
    """One page of ``GET /studies`` exactly as received."""

    number: int
    params: dict[str, str]
    body: bytes
    nct_ids: tuple[str, ...]
    next_page_token: str | None
    total_count: int | None


@dataclass(frozen=True)
class Paged:
    """A complete, checked paging run of one query."""

    params: dict[str, str]
    page_size: int
    pages: tuple[Page, ...]
    total_count: int

    @property
    def nct_ids(self) -> frozenset[str]:
        return frozenset(i for p in self.pages for i in p.nct_ids)


@dataclass
class FetchRun:
    """Everything one fetch received, ready to be stored as a snapshot."""

    api_url: str
    version: dict[str, Any]
    query: Query
    started_utc: str
    finished_utc: str = ""
    full: Paged | None = None
    since: str | None = None
    membership: Paged | None = None
    changed: Paged | None = None
    filled: list[Paged] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0
    restarts: int = 0

    @property
    def data_timestamp(self) -> str:
        return str(self.version.get("dataTimestamp") or "")

    @property
    def registry_data_date(self) -> str:
        return self.data_timestamp[:10]


class _TooSlow(Exception):
    def __init__(self, received: int) -> None:
        super().__init__(received)
        self.received = received


class _Restart(Exception):
    """A paging run must start again from page 1 (carries the error to raise if it cannot)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Client:
    """A polite ClinicalTrials.gov API v2 client.

    Parameters
    ----------
    api_url
        Base URL, e.g. ``https://clinicaltrials.gov/api/v2`` (a test server's URL in tests).
    session
        A ready :class:`requests.Session`; default :func:`make_session` with
        :func:`make_retry` (``backoff_factor``). The deadline's watchdog needs the
        :class:`Adapter` that :func:`make_session` mounts; with another session the
        deadline is checked between body chunks only.
    min_interval
        Seconds between the starts of two requests (1.0: about one request per second).
    timeout
        ``(connect, read)`` seconds per attempt; the read timeout bounds each read.
    deadline
        Seconds one attempt may take in all, from sending the request to the last
        byte of the body (``None``: :data:`DEADLINE`, 90 s). A deadline that passes is
        an :class:`~trialmap.errors.ApiUnavailableError`; the request is not retried.
    max_bytes
        Largest response body accepted, in bytes after decoding (``None``:
        :data:`MAX_BYTES`, 256 MiB); counted while streaming, so a larger or endless
        body stops at the limit with :class:`~trialmap.errors.ResponseTooLargeError`.
    max_restarts
        How often paging may start again from page 1 after an error urllib3
        cannot retry (body cut off, invalid JSON, counts that do not add up).
    tls12_retry
        Retry a 403 once over TLS 1.2 at most (default ``True``).
    """

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        session: requests.Session | None = None,
        min_interval: float = 1.0,
        timeout: tuple[float, float] = TIMEOUT,
        backoff_factor: float = 1.0,
        max_restarts: int = 2,
        deadline: float | None = None,
        max_bytes: int | None = None,
        tls12_retry: bool = True,
    ) -> None:
        deadline = DEADLINE if deadline is None else deadline
        max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        if not deadline > 0:
            msg = f"deadline={deadline!r}: give the seconds one request may take, more than 0"
            raise ValueError(msg)
        if not (isinstance(max_bytes, int) and max_bytes > 0):
            msg = f"max_bytes={max_bytes!r}: give the largest response body in bytes, more than 0"
            raise ValueError(msg)
        self.api_url = api_url.rstrip("/")
        self._retry = make_retry(backoff_factor)
        self.session = session or make_session(self._retry)
        self.min_interval = min_interval
        self.timeout = timeout
        self.deadline = float(deadline)
        self.max_bytes = max_bytes
        self.max_restarts = max_restarts
        self.tls12_retry = tls12_retry
        self.tls12 = False  # True once the 403 retry switched https to TLS 1.2 at most
        self.requests = 0
        self.bytes = 0
        self.restarts = 0
        self._last = -math.inf
        self._received = 0

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request -------------------------------------------------------------------------

    def _wait_turn(self) -> None:
        wait = self._last + self.min_interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def _use_tls12(self) -> None:
        """Mount an https adapter whose TLS version is at most 1.2 (keeps the retry policy)."""
        current = self.session.get_adapter("https://x")
        retry = getattr(current, "max_retries", None) or self._retry
        self.session.mount("https://", Adapter(max_retries=retry, tls_max=ssl.TLSVersion.TLSv1_2))
        self.tls12 = True

    def get(self, path: str, params: dict[str, str] | None = None, what: str = "", *,
            _retried: bool = False) -> bytes:
        """GET ``api_url/path`` and return the body bytes of a 200 answer.

        Raises
        ------
        ApiUnavailableError
            Connection failed, timed out, the deadline passed, or 429/5xx after every retry.
        ApiRefusedError
            HTTP 403, again after one retry over TLS 1.2.
        ResponseTooLargeError
            The body is larger than ``max_bytes``.
        ApiResponseError
            Another non-200 answer (the request was rejected).
        _Restart
            The body was cut off mid-way (paging must restart).
        """
        url = f"{self.api_url}/{path}"
        what = what or url
        self._wait_turn()
        self.requests += 1
        watch = _Watch(self.deadline)
        _local.watch = watch
        self._received = 0
        try:
            try:
                r = self.session.get(url, params=params, timeout=self.timeout, stream=True)
            except _DeadlineExceeded as exc:
                raise self._too_slow(what, 0) from exc
            except requests.exceptions.Timeout as exc:
                if watch.fired:
                    raise self._too_slow(what, 0) from exc
                msg = (
                    f"the ClinicalTrials.gov API at {self.api_url} did not answer {what} within "
                    f"{self.timeout[1]:g} s; try again later"
                )
                raise ApiUnavailableError(msg) from exc
            except requests.exceptions.RequestException as exc:
                if watch.fired:
                    raise self._too_slow(what, 0) from exc
                msg = f"cannot reach the ClinicalTrials.gov API at {self.api_url} ({_reason(exc)})"
                raise ApiUnavailableError(msg) from exc
            try:
                # Without a watched connection (an injected session), the deadline is checked
                # between body chunks, counted from the headers' arrival.
                body = self._read_body(r, what, None if watch.attached else time.monotonic())
            except _TooSlow as exc:
                raise self._too_slow(what, exc.received) from None
            except (requests.exceptions.RequestException, OSError) as exc:
                if watch.fired:
                    raise self._too_slow(what, self._received) from exc
                msg = f"the connection broke while reading {what} from {self.api_url} ({_reason(exc)})"
                raise _Restart(ApiUnavailableError(msg)) from exc
            finally:
                r.close()
        finally:
            watch.stop()
            _local.watch = None
        self.bytes += len(body)
        if r.status_code == 200:
            return body
        text = " ".join(body[:200].decode("utf-8", "replace").split())
        if r.status_code == 403:
            if self.tls12_retry and not self.tls12 and not _retried:
                log.info("%s answered HTTP 403 to %s; retrying once over TLS 1.2", self.api_url, what)
                self._use_tls12()
                return self.get(path, params, what, _retried=True)
            again = ""
            if _retried:
                tls = " over TLS 1.2 at most" if url.startswith("https") else ""
                again = f", again after one retry{tls}"
            msg = (
                f"the ClinicalTrials.gov API at {self.api_url} refused this client: HTTP 403 to "
                f"{what}{again}; {REFUSED_ADVICE}"
            )
            raise ApiRefusedError(msg)
        if r.status_code in RETRY_STATUS:
            n = len(r.raw.retries.history) + 1 if r.raw is not None and r.raw.retries else 1
            msg = (
                f"the ClinicalTrials.gov API at {self.api_url} answered HTTP {r.status_code} to "
                f"{what} ({n} attempts); it is busy or down: try again later"
            )
            raise ApiUnavailableError(msg)
        msg = (
            f"the ClinicalTrials.gov API rejected {what} with HTTP {r.status_code} ({text}); "
            "check the query file's parameters"
        )
        raise ApiResponseError(msg)

    def _too_slow(self, what: str, received: int) -> ApiUnavailableError:
        msg = (
            f"the ClinicalTrials.gov API at {self.api_url} did not finish sending {what} within the "
            f"deadline of {self.deadline:g} s ({received:,} bytes received); the server or the "
            "connection is too slow or misbehaving: try again later"
        )
        return ApiUnavailableError(msg)

    def _read_body(self, r: requests.Response, what: str, t0: float | None) -> bytes:
        """The body, streamed with a running count against ``max_bytes`` (and the deadline).

        ``read1`` returns whatever has arrived (at most 64 KiB, decoded), so the count
        and, without the watchdog, the deadline are checked after every read.
        """
        limit = self.max_bytes
        declared = r.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(what, int(declared), declared=True)
        buf = bytearray()
        raw = r.raw
        try:
            while True:
                chunk = raw.read1(64 * 1024, decode_content=True)
                if not chunk:
                    break
                buf += chunk
                self._received = len(buf)  # for the deadline's message
                if len(buf) > limit:
                    raise self._too_large(what, len(buf))
                if t0 is not None and time.monotonic() - t0 > self.deadline:
                    raise _TooSlow(len(buf))
        except urllib3.exceptions.HTTPError as exc:  # cut off, broken chunking, bad encoding
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        return bytes(buf)

    def _too_large(self, what: str, n: int, *, declared: bool = False) -> ResponseTooLargeError:
        size = f"announced a body of {n:,} bytes, more than" if declared else "sent more than"
        msg = (
            f"{what} from {self.api_url} {size} the limit of {self.max_bytes:,} bytes "
            "(Client(max_bytes=...)); stopped reading. A page of API v2 records is a few MB: "
            "the server is misbehaving, or the query asks for full records (use a smaller "
            "--page-size)"
        )
        return ResponseTooLargeError(msg)

    def version(self) -> dict[str, Any]:
        """``GET /version``: ``{"apiVersion": ..., "dataTimestamp": ...}``."""
        body = self._get_restartable("version", None, "GET /version")
        try:
            data = json.loads(body)
        except ValueError as exc:
            msg = f"GET /version from {self.api_url} is not JSON ({exc}); is --api-url an API v2 base URL?"
            raise ApiResponseError(msg) from exc
        if not isinstance(data, dict) or "apiVersion" not in data:
            msg = f"GET /version from {self.api_url} has no apiVersion; is --api-url an API v2 base URL?"
            raise ApiResponseError(msg)
        return data

    def _get_restartable(self, path: str, params: dict[str, str] | None, what: str) -> bytes:
        for attempt in range(self.max_restarts + 1):
            try:
                return self.get(path, params, what)
            except _Restart as r:
                if attempt == self.max_restarts:
                    raise r.error from r
                self.restarts += 1
        raise AssertionError  # pragma: no cover - the loop always returns or raises

    # -- paging ------------------------------------------------------------------------------

    def fetch(
        self,
        query: Query,
        *,
        page_size: int | None = None,
        max_studies: int | None = None,
        progress: Progress | None = None,
    ) -> Paged:
        """Every page of one query, checked: distinct NCT ids received == ``totalCount``.

        Raises
        ------
        TooManyStudiesError
            ``totalCount`` exceeds ``max_studies`` (default: the query's).
        ApiResponseError, ApiUnavailableError
            After ``max_restarts`` restarts from page 1, or at once for a rejected request.
        """
        check_sizes(page_size, max_studies)
        size = min(int(page_size if page_size is not None else query.page_size), MAX_PAGE_SIZE)
        limit = int(max_studies if max_studies is not None else query.max_studies)
        for attempt in range(self.max_restarts + 1):
            try:
                return self._page_through(query, size, limit, progress)
            except _Restart as r:
                if attempt == self.max_restarts:
                    raise r.error from r
                self.restarts += 1
                log.warning("%s; paging restarts from page 1 (restart %d of %d)", r.error, attempt + 1,
                            self.max_restarts)
        raise AssertionError  # pragma: no cover

    def _page_through(self, query: Query, size: int, limit: int, progress: Progress | None) -> Paged:
        base = query.request_params()
        pages: list[Page] = []
        seen_tokens: set[str] = set()
        ids: set[str] = set()
        token: str | None = None
        total = 0
        expected = 1
        while True:
            n = len(pages) + 1
            params = {**base, "pageSize": str(size)}
            if token is None:
                params["countTotal"] = "true"
            else:
                params["pageToken"] = token
            body = self.get("studies", params, f"page {n} of GET /studies")
            data = _parse_page(body, n)
            studies = data["studies"]
            page_ids = tuple(_nct_id(s, n) for s in studies)
            if n == 1:
                total = _total_count(data)
                if total > limit:
                    msg = (
                        f"the query {query.label} matches {total:,} studies, more than the limit of "
                        f"{limit:,}; narrow it in {query.source} (query.* / filter.*) or raise the "
                        "limit with --max-studies"
                    )
                    raise TooManyStudiesError(msg)
                expected = max(1, math.ceil(total / size))
            nxt = data.get("nextPageToken") or None
            pages.append(Page(n, params, body, page_ids, nxt, data.get("totalCount")))
            ids.update(page_ids)
            if progress is not None:
                progress(n, max(expected, n + (1 if nxt else 0)))
            if nxt is None:
                break
            if not studies:
                msg = f"page {n} of GET /studies is empty but names a next page; only the last may be empty"
                raise _Restart(ApiResponseError(msg))
            if nxt == token or nxt in seen_tokens:
                msg = (
                    f"the API returned page token {nxt[:24]!r} twice (page {n}); paging would loop"
                )
                raise _Restart(ApiResponseError(msg))
            seen_tokens.add(nxt)
            token = nxt
        if len(ids) != total:
            msg = (
                f"received {len(ids):,} distinct studies in {len(pages)} page(s), but the API announced "
                f"totalCount {total:,}; the registry may have changed while paging: run again"
            )
            raise _Restart(ApiResponseError(msg))
        return Paged(base, size, tuple(pages), total)


def _reason(exc: BaseException) -> str:
    """A short reason for a requests/urllib3 connection error, on one line."""
    text = " ".join(str(exc).split())
    low = text.lower()
    if any(s in low for s in ("name or service not known", "failed to resolve", "nodename nor servname",
                              "temporary failure in name resolution", "no address associated")):
        return "the host name does not resolve: no network or no DNS"
    if "connection refused" in low:
        return "connection refused"
    if "timed out" in low:
        return "connection timed out"
    caused = re.search(r"Caused by (\w+)\(", text)
    if caused:
        return caused.group(1)
    return text[:160] or type(exc).__name__


def _parse_page(body: bytes, n: int) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        msg = f"page {n} of GET /studies is not valid JSON ({exc}; {len(body):,} bytes)"
        raise _Restart(ApiResponseError(msg)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("studies"), list):
        msg = f"page {n} of GET /studies has no 'studies' list; is --api-url an API v2 base URL?"
        raise _Restart(ApiResponseError(msg))
    return data


def _nct_id(study: Any, n: int) -> str:
    try:
        return str(study["protocolSection"]["identificationModule"]["nctId"])
    except (KeyError, TypeError) as exc:
        msg = f"a study on page {n} has no protocolSection.identificationModule.nctId"
        raise _Restart(ApiResponseError(msg)) from exc


def _total_count(data: dict[str, Any]) -> int:
    total = data.get("totalCount")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        msg = "the first page of GET /studies has no totalCount although countTotal=true was sent"
        raise _Restart(ApiResponseError(msg))
    return total


def check_sizes(page_size: int | None, max_studies: int | None) -> None:
    """``page_size`` 1..1000 and ``max_studies`` >= 1 (``None``: the query's); else ValueError."""
    def bad(value: object, lo: int, hi: int | None) -> bool:
        if value is None:
            return False
        if isinstance(value, bool) or not isinstance(value, int):
            return True
        return value < lo or (hi is not None and value > hi)

    if bad(page_size, 1, MAX_PAGE_SIZE):
        msg = (
            f"page_size={page_size!r}: the API returns 1 to {MAX_PAGE_SIZE} studies per page; "
            "give a whole number in that range (or None for the query's)"
        )
        raise ValueError(msg)
    if bad(max_studies, 1, None):
        msg = f"max_studies={max_studies!r}: the size guard must be a whole number of at least 1"
        raise ValueError(msg)


def fetch_full(client: Client, query: Query, *, page_size: int | None = None,
               max_studies: int | None = None, progress: Progress | None = None) -> FetchRun:
    """``GET /version``, then every page of ``query``.

    Raises
    ------
    ValueError
        ``page_size`` not in 1..1000 or ``max_studies`` below 1 (the message names it).
    FetchError
        See :meth:`Client.fetch` and :meth:`Client.get`.
    """
    check_sizes(page_size, max_studies)
    run = FetchRun(client.api_url, {}, query, _now())
    r0, b0 = client.requests, client.bytes
    run.version = client.version()
    run.full = client.fetch(query, page_size=page_size, max_studies=max_studies, progress=progress)
    return _finish(run, client, r0, b0)


def fetch_changes(client: Client, query: Query, since: str, have: Iterable[str], *,
                  page_size: int | None = None, max_studies: int | None = None,
                  progress: Progress | None = None) -> FetchRun:
    """What changed since ``since`` (a date), relative to a snapshot holding the studies ``have``.

    Three parts: the current NCT ids of the query (ids only, so a study that
    left the set is dropped), the studies whose last update was posted on or
    after ``since``, and any current id that is in neither the base nor the
    changes (a study that entered the set without an update, e.g. after
    re-indexing), fetched by ``filter.ids``.
    """
    check_sizes(page_size, max_studies)
    run = FetchRun(client.api_url, {}, query, _now(), since=since)
    r0, b0 = client.requests, client.bytes
    run.version = client.version()
    run.membership = client.fetch(query.ids_only(), page_size=1000, max_studies=max_studies)
    run.changed = client.fetch(query.since(since), page_size=page_size, max_studies=max_studies,
                               progress=progress)
    missing = sorted(run.membership.nct_ids - set(have) - run.changed.nct_ids)
    for i in range(0, len(missing), IDS_PER_REQUEST):
        chunk = missing[i:i + IDS_PER_REQUEST]
        got = client.fetch(query.for_ids(chunk), page_size=page_size, max_studies=max_studies)
        if set(chunk) - got.nct_ids:
            msg = (
                f"{len(set(chunk) - got.nct_ids)} studies listed by the query could not be fetched by "
                "id; run a full fetch (without --incremental)"
            )
            raise ApiResponseError(msg)
        run.filled.append(got)
    return _finish(run, client, r0, b0)


def _finish(run: FetchRun, client: Client, r0: int, b0: int) -> FetchRun:
    run.finished_utc = _now()
    run.requests = client.requests - r0
    run.bytes = client.bytes - b0
    run.restarts = client.restarts
    return run
