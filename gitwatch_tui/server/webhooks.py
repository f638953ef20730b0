"""Push webhooks from GitHub, GitLab, Gitea (and Forgejo) and a generic JSON one.

The signature is checked before any limit: an HMAC over at most `max_body` bytes costs less
than the HTTP parsing before it, and a flood of unsigned requests must never take a signed
delivery's place. In order: the provider being configured (404), the content type (415), the
body size, declared and actual (413), the body arriving whole in time (408), the signature or
token in constant time (401); each of these refusals counts against the client's stricter
`unauthenticated_rate`, and past it the answer is 429 and the connection is closed. A signed
delivery counts against its provider's `rate` (429), then: the event header (400), the event
(ping 200, others 202 ignored), the JSON (400), the delivery id seen before (409). Then the
repos it concerns are fetched in the background, and the answer (202) names them. Secrets
are never logged or echoed; refusals are logged one line per kind now and then.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from multidict import CIMultiDictProxy

from gitwatch_tui.core.config import WEBHOOK_PROVIDERS, RateLimit
from gitwatch_tui.engine.events import LogLevel
from gitwatch_tui.server.connections import IncompleteBodyError, read_body
from gitwatch_tui.server.matching import FetchTrigger, RepoIndex
from gitwatch_tui.server.proxies import TrustedProxies
from gitwatch_tui.server.throttled_log import ThrottledLog

GENERIC_SIGNATURE = "X-Gitwatch-Signature-256"
GENERIC_TOKEN = "X-Gitwatch-Token"
GENERIC_EVENT = "X-Gitwatch-Event"
GENERIC_DELIVERY = "X-Gitwatch-Delivery"

# What the counter's `result` label can be, in the order the checks run (`error`: a bug).
RESULTS = (
    "not_configured", "unsupported_type", "too_large", "incomplete", "unauthorized",
    "rate_limited", "malformed", "ping", "ignored", "duplicate", "unmatched", "accepted",
    "error",
)  # fmt: skip
_JSON = frozenset({"application/json"})
_FORM = "application/x-www-form-urlencoded"
_OBJECT_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class MalformedPayloadError(ValueError):
    """The body is signed but is not a push we can read."""


@dataclass(frozen=True, slots=True)
class Push:
    """What a push event says: the repository's URLs, the ref that moved (None: any) and the
    commit it moved to (`after`, when the payload names one)."""

    urls: tuple[str, ...]
    ref: str | None
    after: str | None = None


# -- signatures ---------------------------------------------------------------------------------


def hmac_sha256(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _same(expected: str | bytes, given: str) -> bool:
    """Constant-time comparison that also takes headers with non-ASCII bytes."""
    if isinstance(expected, str):
        expected = expected.encode()
    return hmac.compare_digest(expected, given.encode("utf-8", "surrogateescape"))


def verify_github(secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""
    given = headers.get("X-Hub-Signature-256", "")
    return _same("sha256=" + hmac_sha256(secret, body), given.strip().lower())


def verify_gitea(secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
    """`X-Gitea-Signature: <hex HMAC-SHA256 of the raw body>` (Forgejo sends it too)."""
    given = headers.get("X-Gitea-Signature", "")
    return _same(hmac_sha256(secret, body), given.strip().lower())


def verify_gitlab(secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
    """`X-Gitlab-Token: <the secret token>`: GitLab sends the token itself, not an HMAC."""
    given = headers.get("X-Gitlab-Token")
    return given is not None and _same(secret, given)


def verify_generic(secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
    """`X-Gitwatch-Signature-256: sha256=<hex HMAC>` (preferred), or `X-Gitwatch-Token`."""
    signature = headers.get(GENERIC_SIGNATURE)
    if signature is not None:
        return _same("sha256=" + hmac_sha256(secret, body), signature.strip().lower())
    token = headers.get(GENERIC_TOKEN)
    return token is not None and _same(secret, token)


# -- payloads -----------------------------------------------------------------------------------


def _strings(obj: object, keys: tuple[str, ...]) -> list[str]:
    if not isinstance(obj, dict):
        return []
    return [value for key in keys if isinstance(value := obj.get(key), str) and value]


def _after(payload: dict[str, Any]) -> str | None:
    """The pushed commit: a full hex sha, not the zeros of a deleted branch; else None."""
    after = payload.get("after")
    if isinstance(after, str) and _OBJECT_NAME.fullmatch(after) and after.strip("0"):
        return after
    return None


def _ref(payload: dict[str, Any], required: bool = True) -> str | None:
    ref = payload.get("ref")
    if ref is None and not required:
        return None
    if not isinstance(ref, str) or not ref:
        raise MalformedPayloadError("no 'ref' string in the payload")
    return ref


def parse_github(payload: dict[str, Any]) -> Push:
    """GitHub's and Gitea's push payload: `repository.{clone,ssh,git,html}_url` and `ref`."""
    urls = _strings(payload.get("repository"), ("clone_url", "ssh_url", "git_url", "html_url"))
    if not urls:
        raise MalformedPayloadError("no repository URL in the payload")
    return Push(tuple(urls), _ref(payload), _after(payload))


def parse_gitlab(payload: dict[str, Any]) -> Push:
    """GitLab's push and tag push payload: `project.git_{http,ssh}_url` (and older fields)."""
    project_keys = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")
    urls = _strings(payload.get("project"), project_keys)
    urls += _strings(payload.get("repository"), ("git_http_url", "git_ssh_url", "url", "homepage"))
    if not urls:
        raise MalformedPayloadError("no project URL in the payload")
    return Push(tuple(dict.fromkeys(urls)), _ref(payload), _after(payload))


def parse_generic(payload: dict[str, Any]) -> Push:
    """`{"repository": URL or [URL, ...], "ref": "refs/heads/main", "after": sha}`; `ref` and
    `after` are optional."""
    repository = payload.get("repository")
    urls = [repository] if isinstance(repository, str) else repository
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise MalformedPayloadError("'repository' must be a URL or a list of URLs")
    return Push(tuple(urls), _ref(payload, required=False), _after(payload))


@dataclass(frozen=True, slots=True)
class Provider:
    """How one forge signs, names and shapes its deliveries."""

    name: str
    event_header: str
    delivery_header: str
    push_events: frozenset[str]
    ping_events: frozenset[str]
    verify: Callable[[bytes, bytes, Mapping[str, str]], bool]
    parse: Callable[[dict[str, Any]], Push]
    default_event: str | None = None  # when the event header is missing (None: it is required)
    content_types: frozenset[str] | None = _JSON  # what the forge sends (None: anything)


PROVIDERS: dict[str, Provider] = {
    "github": Provider(
        "github", "X-GitHub-Event", "X-GitHub-Delivery",
        frozenset({"push"}), frozenset({"ping"}), verify_github, parse_github,
        content_types=_JSON | {_FORM},  # GitHub's two content types
    ),
    "gitea": Provider(
        "gitea", "X-Gitea-Event", "X-Gitea-Delivery",
        frozenset({"push"}), frozenset(), verify_gitea, parse_github,
    ),
    "gitlab": Provider(
        "gitlab", "X-Gitlab-Event", "X-Gitlab-Event-UUID",
        frozenset({"Push Hook", "Tag Push Hook"}), frozenset(), verify_gitlab, parse_gitlab,
    ),
    "generic": Provider(
        "generic", GENERIC_EVENT, GENERIC_DELIVERY,
        frozenset({"push"}), frozenset({"ping"}), verify_generic, parse_generic, "push", None,
    ),
}  # fmt: skip
assert set(PROVIDERS) == set(WEBHOOK_PROVIDERS)


# -- limits -------------------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per key (a client address, a provider): bursts of `requests`, refilled
    at `requests/per` a second. The table keeps the most recently seen `max_clients` keys."""

    def __init__(
        self,
        rate: RateLimit,
        *,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(rate.requests)
        self._per_second = rate.requests / rate.per
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)

    def allow(self, client: str) -> bool:
        now = self._clock()
        tokens, then = self._buckets.pop(client, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - then) * self._per_second)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)  # now the newest
        if len(self._buckets) > self._max_clients:
            del self._buckets[next(iter(self._buckets))]  # the least recently seen
        return allowed

    def retry_after(self, client: str) -> int:
        """Whole seconds until `client` has a token again."""
        tokens, _ = self._buckets.get(client, (self._capacity, 0.0))
        return max(1, int((1.0 - tokens) / self._per_second + 0.999))


class RecentIds:
    """The last `size` delivery ids, to recognise a replayed delivery."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._ids: dict[tuple[str, str], None] = {}

    def add(self, provider: str, delivery: str) -> bool:
        """Remember the id; False when it was already there."""
        key = (provider, delivery)
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self._size:
            del self._ids[next(iter(self._ids))]
        return True


# -- the endpoint -------------------------------------------------------------------------------


Outcome = tuple[str, web.Response]  # the counter's `result` label, and the answer


def _reply(status: int, result: str, **extra: Any) -> Outcome:
    return result, web.json_response({"status": result, **extra}, status=status)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class WebhookReceiver:
    """`POST /hooks/{provider}`: checks a delivery and fetches the repos it concerns."""

    def __init__(
        self,
        *,
        secrets: Mapping[str, bytes],
        max_body: int,
        rate: RateLimit,
        unauthenticated_rate: RateLimit,
        index: RepoIndex,
        trigger: FetchTrigger,
        proxies: TrustedProxies | None = None,
        on_result: Callable[[str, str], None] = lambda provider, result: None,
        log: Callable[[LogLevel, str], None] = lambda level, message: None,
    ) -> None:
        self._secrets = dict(secrets)
        self._max_body = max_body
        self._per_provider = RateLimiter(rate)
        self._per_client = RateLimiter(unauthenticated_rate)
        self._proxies = proxies or TrustedProxies(())
        self._recent = RecentIds()
        self._index = index
        self._trigger = trigger
        self._on_result = on_result
        self._log = log
        self._refusals = ThrottledLog(log)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{provider}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["provider"]
        provider = PROVIDERS.get(name)
        if provider is None:
            raise web.HTTPNotFound()
        try:
            result, response = await self._handle(request, provider)
        except Exception:
            self._on_result(name, "error")  # a bug: counted, and aiohttp logs it with its trace
            raise
        self._on_result(name, result)  # one of RESULTS: the label set stays small
        return response

    async def _handle(self, request: web.Request, provider: Provider) -> Outcome:
        client = self._proxies.client(request)
        checked = await self._authenticated(request, provider, client)
        if isinstance(checked, tuple):
            return self._unauthenticated(checked, provider, client)
        if not self._per_provider.allow(provider.name):
            return self._limited(self._per_provider, provider.name)
        event = request.headers.get(provider.event_header, provider.default_event)
        if event is None:
            why = f"no {provider.event_header} header"
            return self._refuse(400, "malformed", provider, client, why)
        if event in provider.ping_events:
            return _reply(200, "ping", message="pong")
        if event not in provider.push_events:
            return _reply(202, "ignored", reason=f"event {_short(event, 60)!r} not handled")
        try:
            push = provider.parse(_payload(checked, request))
        except MalformedPayloadError as exc:
            return self._refuse(400, "malformed", provider, client, str(exc))
        delivery = _delivery_id(request.headers, provider)
        if delivery is not None and not self._recent.add(provider.name, delivery):
            return self._refuse(409, "duplicate", provider, client, f"delivery {delivery} again")
        return await self._accept(provider, push)

    async def _authenticated(
        self, request: web.Request, provider: Provider, client: str
    ) -> bytes | tuple[Outcome, str]:
        """The body of a correctly signed request; else the refusal and why (for the log)."""
        secret = self._secrets.get(provider.name)
        if secret is None:
            return _reply(404, "not_configured", error=f"the {provider.name} webhook is off"), ""
        accepted = provider.content_types
        if accepted is not None and request.content_type not in accepted:
            why = f"content type {_short(request.content_type, 60)!r}; send application/json"
            return _reply(415, "unsupported_type", error=why), why
        declared = request.content_length
        if declared is not None and declared > self._max_body:
            why = f"{declared} bytes declared"
            return _reply(413, "too_large", error=why), why
        try:
            body = await read_body(request, self._max_body)
        except IncompleteBodyError as exc:
            return _reply(408 if exc.timed_out else 400, "incomplete", error=str(exc)), str(exc)
        if body is None:
            return _reply(413, "too_large", error="body over the limit"), "body over the limit"
        if not provider.verify(secret, body, request.headers):
            why = "bad or missing signature"
            return _reply(401, "unauthorized", error=why), why
        return body

    def _unauthenticated(
        self, refused: tuple[Outcome, str], provider: Provider, client: str
    ) -> Outcome:
        """Count a request that did not prove who sent it against its client's stricter limit:
        past it, 429 and the connection closed (a flood must open new ones)."""
        (result, response), why = refused
        if not self._per_client.allow(client):
            result, response = self._limited(self._per_client, client)
            response.force_close()
            why = "over the limit for unsigned requests"
        if why:
            status = response.status
            self._refusals.warning(
                f"{provider.name}-{status}",
                f"webhook {provider.name} from {client} refused ({status}): {why}",
            )
        return result, response

    def _limited(self, limiter: RateLimiter, key: str) -> Outcome:
        result, response = _reply(429, "rate_limited", error="too many requests")
        response.headers["Retry-After"] = str(limiter.retry_after(key))
        return result, response

    async def _accept(self, provider: Provider, push: Push) -> Outcome:
        names = await self._index.match(push.urls, push.ref)
        what = f"webhook {provider.name}: {push.ref or 'push'} to {_short(push.urls[0])}"
        if not names:
            self._log("info", f"{what} matches no watched repo")
            return _reply(202, "unmatched", repos=[])
        for repo in names:
            self._trigger.fetch(repo, push.after)
        self._log("info", f"{what}: fetching {', '.join(names)}")
        return _reply(202, "accepted", repos=names)

    def _refuse(
        self, status: int, result: str, provider: Provider, client: str, why: str
    ) -> Outcome:
        self._refusals.warning(
            f"{provider.name}-{status}",
            f"webhook {provider.name} from {client} refused ({status}): {why}",
        )
        return _reply(status, result, error=why)


def _delivery_id(headers: CIMultiDictProxy[str], provider: Provider) -> str | None:
    value = headers.get(provider.delivery_header)
    return _short(value.strip(), 100) if value and value.strip() else None


def _payload(body: bytes, request: web.Request) -> dict[str, Any]:
    """The JSON object in the body; GitHub may also send it form-encoded as `payload=`."""
    try:
        text = body.decode("utf-8")
        if request.content_type == _FORM:
            text = parse_qs(text, strict_parsing=True)["payload"][0]
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise MalformedPayloadError(f"not a JSON body: {type(exc).__name__}") from None
    except RecursionError:  # `[[[[...` nested past the parser's recursion limit
        raise MalformedPayloadError("not a JSON body: nested too deep") from None
    if not isinstance(payload, dict):
        raise MalformedPayloadError("the JSON body is not an object")
    return payload
