"""A local HTTP server that speaks the ClinicalTrials.gov API v2 protocol, for the fetch tests.

It listens on 127.0.0.1 (a free port), answers ``GET /api/v2/version`` and
``GET /api/v2/studies`` as the specification (tests/data/ctgov/api-spec/
ctg-oas-v2.yaml) describes, and serves REAL v2 study records (the website JSON
exports in tests/data/ctgov/) wrapped in the page envelope
``{"studies": [...], "nextPageToken": ..., "totalCount": ...}``. Nothing here
invents registry content: the records are served as they are, or projected to
the requested ``fields``.

What it implements of the protocol:

- every query parameter name must be one the specification defines for the
  endpoint, else HTTP 400 with the real API's text `` `<name>` is unknown parameter ``;
- every ``fields`` entry must be a dotted path of the specification's ``Study``
  schema (:func:`study_field_paths`), else HTTP 400 with the real API's text
  ``Parameter 'fields' contains invalid field name: '<name>'`` (the real API also
  accepts piece names such as ``NCTId``; trialmap never sends them, so this server
  does not);
- ``pageSize`` (default 10, coerced down to the server's maximum), ``pageToken``
  (tokens are opaque, single-server-state; a later page whose parameters differ
  from the first page's, except pageSize/pageToken/countTotal, is a 400),
  ``countTotal`` (``totalCount`` on the first page only), no ``nextPageToken``
  on the last page, optionally an empty page after a full last page;
- ``fields`` (comma or pipe separated dotted paths; a path into a list applies to
  every element), ``filter.ids`` (matching ``nctId`` and, as the specification
  says, ``nctIdAliases``), and ``filter.advanced`` of the form
  ``AREA[LastUpdatePostDate]RANGE[from,to]`` (``MIN``/``MAX`` allowed);
- ``query.*`` values are accepted but not evaluated: the server's current
  state IS the result set of the query (the tests choose the state).

Faults are queued per endpoint and consumed one per request, or set for every
request with ``always`` (see :class:`Fault`). With ``tls=True`` the server speaks
HTTPS with a throw-away self-signed certificate (made with the openssl command;
:attr:`FakeCtgov.cafile` is the file to trust), so a test can see which TLS
version a client negotiated.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import secrets
import ssl
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from trialmap.query import project

HERE = Path(__file__).resolve().parent
CTGOV = HERE / "data" / "ctgov"
SPEC = CTGOV / "api-spec" / "ctg-oas-v2.yaml"
BASE = "/api/v2"


@functools.cache
def load_spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def spec_parameters(endpoint: str) -> set[str]:
    """Query parameter names the specification defines for ``GET endpoint``."""
    op = load_spec()["paths"][endpoint]["get"]
    return {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}


@functools.cache
def study_field_paths() -> frozenset[str]:
    """Every dotted path of the specification's ``Study`` schema (a path into a list names
    the elements' fields, e.g. ``protocolSection.contactsLocationsModule.locations.city``)."""
    schemas = load_spec()["components"]["schemas"]
    out: set[str] = set()

    def walk(node: dict[str, Any], prefix: str, seen: frozenset[str]) -> None:
        while True:
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[1]
                if name in seen:  # a recursive schema: stop here
                    return
                seen = seen | {name}
                node = schemas[name]
            elif node.get("type") == "array" and "items" in node:
                node = node["items"]
            else:
                break
        for key, sub in (node.get("properties") or {}).items():
            path = f"{prefix}.{key}" if prefix else key
            out.add(path)
            walk(sub, path, seen)

    walk(schemas["Study"], "", frozenset({"Study"}))
    return frozenset(out)


def fast_client(api_url: str, **kw: Any) -> Any:
    """A :class:`trialmap.client.Client` for the local server: no pause between requests,
    short back-off and timeouts, two restarts (``kw`` overrides any of them)."""
    from trialmap.client import Client

    opts = {"min_interval": 0.0, "backoff_factor": 0.01, "timeout": (1.0, 1.0), "max_restarts": 2}
    return Client(api_url, **{**opts, **kw})


def real_studies(name: str = "ctg-studies-50.json") -> list[dict[str, Any]]:
    """The real v2 study records of one website export, in file order."""
    return json.loads((CTGOV / name).read_text(encoding="utf-8"))


def nct(study: dict[str, Any]) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def aliases(study: dict[str, Any]) -> list[str]:
    return list(study["protocolSection"]["identificationModule"].get("nctIdAliases") or [])


def last_update(study: dict[str, Any]) -> str:
    return study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]




@dataclass
class Fault:
    """One injected fault, applied to one request.

    kind:
      ``status``   answer ``status`` with ``headers`` and a short text body;
      ``drop``     send the headers and half the body, then close the connection;
      ``delay``    wait ``delay`` seconds before answering normally (a read timeout);
      ``truncate`` a 200 whose body is the first half of the real page (Content-Length matches);
      ``html``     a 200 with an HTML body (a proxy's error page), not JSON;
      ``total``    the real page with ``totalCount`` increased by ``extra``;
      ``repeat``   the real page, but ``nextPageToken`` is the token the request sent;
      ``refuse``   HTTP 403 with an "Access denied" HTML page, as a bot-protection service
                   in front of the API answers (made up: no recording of one exists);
      ``refuse-tls13`` the same 403, but only to a request that came over TLS 1.3 (a block
                   keyed on the TLS fingerprint); over TLS 1.2 the answer is normal;
      ``endless``  a 200 whose chunked body never ends: the real page's opening, then the
                   page's real study records repeated for ever (until the client hangs up);
      ``trickle``  a 200 with the real page's Content-Length, sent one byte every
                   ``delay`` seconds (never slow enough to trip a read timeout).
    """

    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    extra: int = 1


@dataclass
class Request:
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    at: float


class FakeCtgov:
    """The local API server. Use as a context manager; ``url`` is the API base URL."""

    def __init__(self, studies: list[dict[str, Any]], data_timestamp: str, *, api_version: str = "2.0.5",
                 max_page_size: int = 1000, empty_last_page: bool = False, tls: bool = False) -> None:
        self.lock = threading.Lock()
        self.studies = list(studies)
        self.data_timestamp = data_timestamp
        self.api_version = api_version
        self.max_page_size = max_page_size
        self.empty_last_page = empty_last_page
        # None in a queue: answer that request normally.
        self.faults: dict[str, deque[Fault | None]] = {"studies": deque(), "version": deque()}
        self.always: dict[str, Fault | None] = {"studies": None, "version": None}
        self.log: list[Request] = []
        self.bytes_sent = 0
        self.sent: list[tuple[str, bytes]] = []  # (path, body) of every complete 200 answer
        self._tokens: dict[str, tuple[frozenset, int]] = {}
        self.spec = {"studies": spec_parameters("/studies"), "version": spec_parameters("/version")}
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.tls = tls
        self.cafile: str | None = None
        self.tls_versions: list[str] = []  # the TLS version of every request (tls=True)
        if tls:
            self._certdir = tempfile.TemporaryDirectory(prefix="ctgov-cert-")
            key, cert = f"{self._certdir.name}/key.pem", f"{self._certdir.name}/cert.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                 "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                check=True, capture_output=True,
            )
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            self.cafile = cert
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}{BASE}"

    def __enter__(self) -> FakeCtgov:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()  # endless and trickling answers stop
        self._server.shutdown()
        self._server.server_close()
        if self.tls:
            self._certdir.cleanup()

    def set_state(self, studies: list[dict[str, Any]], data_timestamp: str) -> None:
        """Switch the registry state (a later day of the registry)."""
        with self.lock:
            self.studies = list(studies)
            self.data_timestamp = data_timestamp
            self._tokens.clear()

    def add_fault(self, fault: Fault, endpoint: str = "studies", times: int = 1) -> None:
        for _ in range(times):
            self.faults[endpoint].append(fault)

    def requests_to(self, endpoint: str) -> list[Request]:
        return [r for r in self.log if r.path == f"{BASE}/{endpoint}"]

    def undefined_parameters(self) -> set[tuple[str, str]]:
        """(endpoint, name) of every parameter sent that the specification does not define."""
        bad = set()
        for r in self.log:
            endpoint = r.path.removeprefix(f"{BASE}/")
            allowed = self.spec.get(endpoint, set())
            bad |= {(endpoint, k) for k, _ in r.params if k not in allowed}
        return bad

    # -- the protocol ------------------------------------------------------------------------

    def _select(self, p: dict[str, str]) -> list[dict[str, Any]] | str:
        out = self.studies
        ids = p.get("filter.ids")
        if ids:
            # The specification: ids are searched in NCTId and NCTIdAlias.
            wanted = set(re.split(r"[\s,|]+", ids.strip()))
            out = [s for s in out if nct(s) in wanted or wanted & set(aliases(s))]
        adv = p.get("filter.advanced")
        if adv:
            m = re.fullmatch(r"AREA\[LastUpdatePostDate\]RANGE\[([^,\]]+),([^\]]+)\]", adv.strip())
            if not m:
                return f"this test server supports only AREA[LastUpdatePostDate]RANGE[..]: {adv}"
            lo, hi = m.group(1).strip(), m.group(2).strip()
            lo = "" if lo == "MIN" else lo
            hi = "9999-12-31" if hi == "MAX" else hi
            out = [s for s in out if lo <= last_update(s) <= hi]
        return out

    def studies_page(self, params: list[tuple[str, str]], fault: Fault | None) -> tuple[int, bytes]:
        names = [k for k, _ in params]
        unknown = [k for k in names if k not in self.spec["studies"]]
        if unknown:  # the real API names the first one
            return 400, f"`{unknown[0]}` is unknown parameter".encode()
        if len(set(names)) != len(names):
            return 400, b"Repeated parameter"
        p = dict(params)
        if p.get("format", "json") != "json":
            return 400, b"this test server speaks format=json only"
        token = p.pop("pageToken", None)
        try:
            size = int(p.pop("pageSize", "10") or 0) or 10
        except ValueError:
            return 400, b"pageSize must be an integer"
        size = min(size, self.max_page_size)
        count = p.pop("countTotal", "false").lower() == "true"
        key = frozenset(p.items())
        with self.lock:
            if token is not None:
                entry = self._tokens.get(token)
                if entry is None:
                    return 400, b"Invalid pageToken"
                if entry[0] != key:
                    return 400, b"Parameters of a later page must equal the first page's"
                offset = entry[1]
            else:
                offset = 0
            selected = self._select(p)
            if isinstance(selected, str):
                return 400, selected.encode()
            page = selected[offset:offset + size]
            fields = [f.strip() for f in re.split(r"[,|]", p.get("fields", "")) if f.strip()]
            bad = [f for f in fields if f not in study_field_paths()]
            if bad:
                return 400, f"Parameter 'fields' contains invalid field name: '{bad[0]}'".encode()
            body: dict[str, Any] = {}
            if token is None and count:
                body["totalCount"] = len(selected)
            body["studies"] = [project(s, fields) if fields else s for s in page]
            end = offset + size
            more = end < len(selected) or (self.empty_last_page and page and end == len(selected))
            if more:
                nxt = secrets.token_urlsafe(12)
                self._tokens[nxt] = (key, end)
                body["nextPageToken"] = nxt
        if fault is not None and fault.kind == "total" and "totalCount" in body:
            body["totalCount"] += fault.extra
        if fault is not None and fault.kind == "repeat" and token is not None and "nextPageToken" in body:
            body["nextPageToken"] = token
        return 200, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _handler(api: FakeCtgov) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json",
                  headers: dict[str, str] | None = None, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            api.bytes_sent += len(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = parse_qsl(url.query, keep_blank_values=True)
            with api.lock:
                api.log.append(Request(url.path, params, dict(self.headers), time.monotonic()))
                if api.tls:
                    api.tls_versions.append(self.connection.version())
            endpoint = url.path.removeprefix(f"{BASE}/")
            if endpoint not in api.faults:
                self._send(404, b"Not found", "text/plain")
                return
            with api.lock:
                queue = api.faults[endpoint]
                fault = queue.popleft() if queue else api.always[endpoint]
            # The client may have given up (read timeout): nothing left to answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(endpoint, params, fault)

        def _answer(self, endpoint: str, params: list[tuple[str, str]], fault: Fault | None) -> None:
            tls13 = api.tls and self.connection.version() == "TLSv1.3"
            if fault is not None and (fault.kind == "refuse" or (fault.kind == "refuse-tls13" and tls13)):
                self._send(403, REFUSAL_PAGE, "text/html", {"Connection": "close"})
                self.close_connection = True
                return
            if fault is not None and fault.kind == "status":
                self._send(fault.status, f"HTTP {fault.status} (injected by the test)".encode(),
                           "text/plain", fault.headers)
                return
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "html":
                self._send(200, b"<html><body>Service notice</body></html>", "text/html")
                return
            if endpoint == "version":
                if params:
                    status, body = 400, b"GET /version takes no parameters"
                else:
                    status, body = 200, json.dumps(
                        {"apiVersion": api.api_version, "dataTimestamp": api.data_timestamp}
                    ).encode()
            else:
                status, body = api.studies_page(params, fault)
            if status != 200:
                self._send(status, body, "text/plain")
                return
            if fault is not None and fault.kind == "truncate":
                body = body[: len(body) // 2]
            if fault is not None and fault.kind == "endless":
                self._endless(body)
                return
            if fault is not None and fault.kind == "trickle":
                self._trickle(body, fault.delay)
                return
            if fault is not None and fault.kind == "drop":
                self._send(200, body[: len(body) // 2], length=len(body))
                self.wfile.flush()
                self.close_connection = True
                return
            with api.lock:  # recorded before sending: the client may read it before we return
                api.sent.append((self.path.split("?")[0], body))
            self._send(200, body)

        def _endless(self, page: bytes) -> None:
            """The page's opening, then its real records repeated for ever, chunked."""
            data = json.loads(page)
            records = [json.dumps(s, separators=(",", ":")).encode() for s in data["studies"]] or [b"{}"]
            block = b",".join(records) + b","
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            chunks = [b'{"studies":[', *([block] * max(1, 1_000_000 // len(block)))]
            first = True
            while not api.stopping.is_set():
                for c in (chunks if first else chunks[1:]):
                    self.wfile.write(f"{len(c):x}\r\n".encode() + c + b"\r\n")
                    api.bytes_sent += len(c)
                first = False

        def _trickle(self, page: bytes, delay: float) -> None:
            """The real page with its Content-Length, one byte every ``delay`` seconds."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.close_connection = True
            for i in range(len(page)):
                self.wfile.write(page[i:i + 1])
                self.wfile.flush()
                api.bytes_sent += 1
                if api.stopping.wait(delay):
                    return

    return Handler


#: What a bot-protection service answers instead of the API (made up, shaped like such pages).
REFUSAL_PAGE = (
    b"<!DOCTYPE html><html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>"
    b"<p>You don't have permission to access this resource.</p></body></html>"
)
