"""HTTP for remote trackers: bounded retries, a global rate limit, and errors a user can act on.

Public trackers fail in three ways a long fetch must survive: the server says "slow down" (429,
with `Retry-After`, or `RateLimit-Remaining: 0` + `RateLimit-Reset`), the server or network
hiccups (5xx, resets, timeouts, a body cut off mid-page), and GraphQL reports a failure inside
an HTTP 200 (`{"errors": [...]}`). urllib3's `Retry` handles the first two while the response
headers arrive; a second loop here handles what only shows once the body is read (truncated or
malformed JSON, GraphQL errors). Both loops draw on one per-request budget, so a request costs at
most `RetryPolicy.max_attempts` HTTP attempts whichever way it fails, and every attempt passes the
process-wide `RateLimiter`.

Failures that retrying cannot fix are not retried: 401/403 (an API key is needed or was refused),
404, and other 4xx. Credentials live only on the session; no message here includes them.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from openrlb_cli.errors import InputError, OpenrlbError

RETRY_STATUSES = frozenset([429, *range(500, 600)])


class FetchError(OpenrlbError):
    """A remote tracker could not give us what we asked for."""

    exit_code = 4


class AuthError(FetchError):
    """401/403: the project is private (needs an API key) or the key was refused."""


class NotFoundError(FetchError):
    """404, or a GraphQL answer saying the entity/project/run does not exist."""


class NothingMatchedError(FetchError):
    """A project, experiment or filter that matches no run on the server (a typo, most often).

    Exit code 1, as for any selection that matches nothing: fixing the command helps, retrying not."""

    exit_code = 1


class Retryable(Exception):
    """Raised by a response check for a failure worth another attempt (e.g. a GraphQL timeout)."""


MB = 1 << 20
MAX_RESPONSE_ENV = "OPENRLB_MAX_RESPONSE_MB"
DEFAULT_MAX_RESPONSE_MB = 256


def default_max_response_mb() -> int:
    """`$OPENRLB_MAX_RESPONSE_MB`, else 256: what one answer of a tracker may weigh at most."""
    text = os.environ.get(MAX_RESPONSE_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_RESPONSE_MB
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{MAX_RESPONSE_ENV} must be a whole number of MB >= 1, got {text!r}")
    return value


class ResponseTooLarge(FetchError):
    """An answer over the size limit (a misbehaving server or proxy): not read, not retried."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Delays: backoff * 2**(n-1) for the n-th retry, capped, plus jitter."""

    max_attempts: int = 6  # HTTP attempts per request, first one included
    backoff: float = 1.0  # seconds before the first retry (before jitter)
    backoff_max: float = 60.0
    jitter: float = 1.0  # uniform extra seconds in [0, jitter)
    retry_after_max: float = 60.0  # a server's Retry-After is honoured up to this many seconds
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # the largest answer read (decoded bytes); larger ones fail at once, before being read whole
    max_response_bytes: int = field(default_factory=lambda: default_max_response_mb() * MB)

    def delay(self, retry_number: int) -> float:
        base = min(self.backoff_max, self.backoff * 2 ** max(0, retry_number - 1))
        return base + (random.random() * self.jitter if self.jitter > 0 else 0.0)


class RequestStats:
    """Thread-safe counters of HTTP attempts (retries included), by kind of request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.by_kind: Counter[str] = Counter()

    def attempt(self, kind: str, *, retry: bool) -> None:
        with self._lock:
            self.requests += 1
            self.by_kind[kind] += 1
            if retry:
                self.retries += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "retries": self.retries, "by_kind": dict(self.by_kind)}


class RateLimiter:
    """At most `rate` requests per second across all threads (evenly spaced); None/0 = no limit."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class _Budget:
    """Attempts of one logical request; shared by urllib3's retries and the body-level loop."""

    def __init__(self, client: HttpClient, kind: str):
        self.client = client
        self.kind = kind
        self.used = 0

    def take(self, *, retry: bool) -> bool:
        if self.used >= self.client.policy.max_attempts:
            return False
        self.used += 1
        self.client.stats.attempt(self.kind, retry=retry)
        self.client.limiter.acquire()
        return True


_local = threading.local()


class _BudgetRetry(Retry):
    """urllib3 Retry that spends the current request's budget and uses our backoff."""

    policy: RetryPolicy = RetryPolicy()

    def new(self, **kw: Any) -> _BudgetRetry:
        fresh = super().new(**kw)
        fresh.policy = self.policy
        return fresh

    def increment(self, method: str | None = None, url: str | None = None, *args: Any, **kw: Any) -> _BudgetRetry:
        fresh = super().increment(method, url, *args, **kw)
        budget: _Budget | None = getattr(_local, "budget", None)
        if budget is not None and not budget.take(retry=True):
            error = kw.get("error")
            reason = error or ResponseError("too many error responses")
            raise MaxRetryError(kw.get("_pool"), url or "", reason)  # type: ignore[arg-type]
        return fresh

    def get_retry_after(self, response: Any) -> float | None:
        """`Retry-After`, else on a 429 the `RateLimit-Remaining`/`RateLimit-Reset` pair (capped alike)."""
        seconds = super().get_retry_after(response)
        if seconds is not None or getattr(response, "status", None) != 429:
            return seconds
        reset = rate_limit_reset(response.headers)
        return None if reset is None else min(reset, float(self.retry_after_max))

    def get_backoff_time(self) -> float:
        budget: _Budget | None = getattr(_local, "budget", None)
        return self.policy.delay(max(1, (budget.used - 1) if budget else len(self.history)))


_RATELIMIT_FIELD = re.compile(r"(?:^|[;,\s])(remaining|reset|r|t)\s*=\s*([0-9.]+)", re.IGNORECASE)


def rate_limit_reset(headers: Any) -> float | None:
    """Seconds until the server's rate-limit window resets, when it says the window is used up.

    Reads `RateLimit-Remaining` + `RateLimit-Reset` (also `X-RateLimit-*`), or the combined
    `RateLimit: remaining=0, reset=7` / `"policy";r=0;t=7` forms of the IETF drafts. A reset
    value larger than a day's seconds is an epoch timestamp (GitHub-style). None when the headers
    are absent, unparsable, or quota remains.
    """
    def first(*names: str) -> str | None:
        for name in names:
            value = headers.get(name)
            if value is not None:
                return str(value)
        return None

    remaining = first("RateLimit-Remaining", "X-RateLimit-Remaining")
    reset = first("RateLimit-Reset", "X-RateLimit-Reset")
    combined = first("RateLimit")
    if combined is not None and (remaining is None or reset is None):
        fields = {k.lower(): v for k, v in _RATELIMIT_FIELD.findall(combined)}
        remaining = remaining if remaining is not None else fields.get("remaining", fields.get("r"))
        reset = reset if reset is not None else fields.get("reset", fields.get("t"))
    if reset is None:
        return None
    try:
        if remaining is not None and float(remaining.split(",")[0]) > 0:
            return None
        seconds = float(reset.split(",")[0])
    except ValueError:
        return None
    if seconds > 86_400:
        seconds -= time.time()
    return max(0.0, seconds)


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Caused by ", "(Caused by"):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("() ")[:200] or type(exc).__name__


def check_url(url: str, what: str = "URL") -> str:
    """A base URL without credentials or trailing slash; credentials belong in env/netrc."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{what} {url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise InputError(f"{what} must not contain credentials; use the environment or ~/.netrc instead")
    return url.rstrip("/")


class HttpClient:
    """JSON over HTTP with retries; one `requests.Session` per worker thread."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        auth: Any = None,
        headers: dict[str, str] | None = None,
        auth_hint: str = "",
        policy: RetryPolicy | None = None,
        max_rps: float | None = None,
        stats: RequestStats | None = None,
    ):
        self.base_url = check_url(base_url)
        self.service = service
        self.policy = policy or RetryPolicy()
        self.stats = stats or RequestStats()
        self.limiter = RateLimiter(max_rps)
        self.auth_hint = auth_hint
        self._auth = auth
        self._headers = {"User-Agent": "openrlb", **(headers or {})}
        self._proxies = requests.utils.get_environ_proxies(self.base_url)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    @property
    def has_auth(self) -> bool:
        return self._auth is not None

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            retry = _BudgetRetry(
                total=self.policy.max_attempts - 1, connect=None, read=None, status=None, other=None,
                allowed_methods=None, status_forcelist=RETRY_STATUSES, raise_on_status=False,
                respect_retry_after_header=True, retry_after_max=self.policy.retry_after_max,  # type: ignore[arg-type]
            )
            retry.policy = self.policy
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=2)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self._headers)
            session.auth = self._auth
            # read the environment's proxy settings once, not on every request (it scans os.environ)
            session.proxies.update(self._proxies)
            session.trust_env = False
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def request_json(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        what: str,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        check: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send, retry within the budget, and return the decoded JSON body.

        `check(body)` may raise `Retryable` (try again) or a `FetchError` (give up at once).
        """
        url = self.base_url + path
        budget = _Budget(self, kind)
        session = self._session()
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        last_problem = ""
        while budget.take(retry=budget.used > 0):
            _local.budget = budget
            try:
                resp = session.request(method, url, params=params, json=json_body, timeout=timeout, stream=True)
            except requests.RequestException as exc:  # urllib3 has already retried
                raise FetchError(
                    f"{self.service} at {self.base_url} did not answer ({what}) after {budget.used} "
                    f"attempts: {_short(exc)}"
                ) from None
            finally:
                _local.budget = None
            try:
                if resp.status_code >= 400:
                    raise self._status_error(resp, what, budget.used)
                try:
                    body = self._read(resp, what)
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError,
                        requests.exceptions.ContentDecodingError) as exc:
                    raise Retryable(f"the answer was cut off ({_short(exc)})") from None
                try:
                    data = json.loads(body)
                except ValueError:
                    raise Retryable(f"an answer that is not JSON ({_describe_body(resp, body)})") from None
                if check is not None:
                    check(data)
                return data
            except Retryable as exc:
                last_problem = str(exc)
            finally:
                resp.close()
            if budget.used < self.policy.max_attempts:
                time.sleep(self.policy.delay(budget.used))
        raise FetchError(f"{self.service} at {self.base_url} kept failing ({what}) after {budget.used} attempts: "
                         f"{last_problem}")

    def _read(self, resp: requests.Response, what: str) -> bytearray:
        """The body, streamed: an answer over `max_response_bytes` fails as soon as that is known
        (its Content-Length, or the first byte past the limit), without holding it in memory."""
        limit = self.policy.max_response_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(what, f"{int(declared) / MB:,.0f} MB")
        body = bytearray()  # grows in place: no second copy of a large answer (json.loads takes it as is)
        for chunk in resp.iter_content(chunk_size=1 << 20):
            if len(body) + len(chunk) > limit:
                raise self._too_large(what, "more")
            body += chunk
        return body

    def _too_large(self, what: str, size: str) -> ResponseTooLarge:
        limit = self.policy.max_response_bytes
        shown = f"{limit / MB:,.0f} MB" if limit >= MB else f"{limit:,} bytes"
        return ResponseTooLarge(f"{self.service} at {self.base_url} sent an answer larger than the {shown} limit "
                                f"for {what} ({size}); stopped reading it (raise the limit with "
                                f"{MAX_RESPONSE_ENV} if the answer is legitimate)")

    def _status_error(self, resp: requests.Response, what: str, attempts: int) -> FetchError:
        status = resp.status_code
        detail = _error_detail(resp)
        if status in (401, 403):
            if self.has_auth:
                return AuthError(f"{self.service} refused access to {what} (HTTP {status}): the API key was "
                                 f"rejected or has no access to it{detail}")
            return AuthError(f"{self.service} refused access to {what} (HTTP {status}): this project needs an "
                             f"API key{self.auth_hint}")
        if status == 404:
            return NotFoundError(f"{self.service} has no {what} (HTTP 404 from {self.base_url}){detail}")
        if status in RETRY_STATUSES:
            return FetchError(f"{self.service} still answers HTTP {status} for {what} after {attempts} "
                              f"attempts{detail}")
        return FetchError(f"{self.service} rejected the request for {what} (HTTP {status}){detail}")


def _describe_body(resp: requests.Response, body: bytes | bytearray) -> str:
    """A non-JSON answer in a few words: its content type, size, and its start when it is text."""
    kind = resp.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    start = " ".join(bytes(body[:60]).decode("utf-8", "replace").split())
    printable = start and all(c.isprintable() for c in start)
    return f"{kind}, {len(body):,} bytes" + (f": {start!r}" if printable else "")


def _error_detail(resp: requests.Response) -> str:
    """The server's own words about an error status, from the first 2,000 bytes of its body."""
    try:
        head = next(resp.iter_content(chunk_size=2000), b"")
        text = head[:2000].decode("utf-8", "replace") if isinstance(head, bytes) else str(head)[:2000]
    except (requests.RequestException, StopIteration):
        return ""
    try:
        body = json.loads(text)
        if isinstance(body, dict):
            for key in ("message", "error", "errors"):
                if key in body:
                    value = body[key]
                    if isinstance(value, list) and value and isinstance(value[0], dict):
                        value = value[0].get("message", value[0])
                    return f": {str(value)[:200]}"
    except ValueError:
        pass
    text = " ".join(text.split())
    return f": {text[:200]}" if text and not text.startswith("<") else ""
