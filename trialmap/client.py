"""HTTP only: talk to the ClinicalTrials.gov API v2 and return the pages exactly as received.

Politeness and robustness come from one :class:`requests.Session` with
connect/read timeouts, a descriptive User-Agent, a minimum interval between
requests (about one per second by default) and a :class:`urllib3.util.Retry`
mounted on it: exponential backoff on connection errors, read errors, 403,
429 and 5xx, honouring ``Retry-After`` (capped), with a bounded total.
Connection errors are retried only once, so an unreachable API (no network)
fails within seconds rather than minutes.

What urllib3 cannot retry (a body cut off mid-way, a body that is not JSON, a
paging run that does not add up) restarts paging from page 1, because page
tokens cannot be reused later; the number of restarts is bounded too.

Nothing here writes files: :func:`fetch_full` and :func:`fetch_changes` return
a :class:`FetchRun` that :func:`trialmap.snapshot.write_fetched` stores.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

import trialmap
from trialmap.errors import ApiResponseError, ApiUnavailableError, TooManyStudiesError
from trialmap.query import DEFAULT_API_URL, Query

log = logging.getLogger(__name__)

USER_AGENT = (
    f"trialmap/{trialmap.__version__} (research toolkit mapping where clinical trials run; "
    f"python-requests/{requests.__version__})"
)
#: (connect, read) seconds. A short connect timeout keeps "no network" fast.
TIMEOUT = (3.05, 60.0)
#: HTTP answers that mean "busy or temporarily down": retried with backoff.
RETRY_STATUS = (403, 429, 500, 502, 503, 504)
#: How many ids one ``filter.ids`` request names (keeps the URL well under 8 KB).
IDS_PER_REQUEST = 200

Progress = Callable[[int, int], None]


class _Retry(Retry):
    """urllib3's Retry, but the first retry also waits (urllib3 retries the first one at once)."""

    def get_backoff_time(self) -> float:
        n = len(self.history)
        if n == 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (n - 1)))


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


def make_session(retry: Retry | None = None, user_agent: str = USER_AGENT) -> requests.Session:
    """A session with the retry policy mounted for http and https and the User-Agent set."""
    s = requests.Session()
    adapter = HTTPAdapter(max_retries=retry or make_retry())
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
        :func:`make_retry` (``backoff_factor``).
    min_interval
        Seconds between the starts of two requests (1.0: about one request per second).
    timeout
        ``(connect, read)`` seconds per attempt.
    max_restarts
        How often paging may start again from page 1 after an error urllib3
        cannot retry (body cut off, invalid JSON, counts that do not add up).
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
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = session or make_session(make_retry(backoff_factor))
        self.min_interval = min_interval
        self.timeout = timeout
        self.max_restarts = max_restarts
        self.requests = 0
        self.bytes = 0
        self.restarts = 0
        self._last = -math.inf

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

    def get(self, path: str, params: dict[str, str] | None = None, what: str = "") -> bytes:
        """GET ``api_url/path`` and return the body bytes of a 200 answer.

        Raises
        ------
        ApiUnavailableError
            Connection failed, timed out, or 403/429/5xx after every retry.
        ApiResponseError
            Another non-200 answer (the request was rejected).
        _Restart
            The body was cut off mid-way (paging must restart).
        """
        url = f"{self.api_url}/{path}"
        what = what or url
        self._wait_turn()
        self.requests += 1
        try:
            r = self.session.get(url, params=params, timeout=self.timeout, stream=True)
        except requests.exceptions.Timeout as exc:
            msg = (
                f"the ClinicalTrials.gov API at {self.api_url} did not answer {what} within "
                f"{self.timeout[1]:g} s; try again later"
            )
            raise ApiUnavailableError(msg) from exc
        except requests.exceptions.RequestException as exc:
            msg = f"cannot reach the ClinicalTrials.gov API at {self.api_url} ({_reason(exc)})"
            raise ApiUnavailableError(msg) from exc
        try:
            body = r.content
        except (requests.exceptions.RequestException, OSError) as exc:
            msg = f"the connection broke while reading {what} from {self.api_url} ({_reason(exc)})"
            raise _Restart(ApiUnavailableError(msg)) from exc
        finally:
            r.close()
        self.bytes += len(body)
        if r.status_code == 200:
            return body
        text = body[:200].decode("utf-8", "replace").strip()
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
        size = min(int(page_size or query.page_size), 1000)
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


def fetch_full(client: Client, query: Query, *, page_size: int | None = None,
               max_studies: int | None = None, progress: Progress | None = None) -> FetchRun:
    """``GET /version``, then every page of ``query``."""
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
