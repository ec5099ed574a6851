"""The WSGI edge: route, call the pure layers and pyvips, and render errors in one place.

This is plain WSGI rather than Flask because the tile path is the hottest code in
Tàng Thư and a framework's per-request work would cost a large share of it.

Why it is longer than 400 lines: it is one request path (route, credentials, grant,
plan, caches, passthrough, lane, headers) read top to bottom by whoever profiles a tile;
every step it calls lives in its own module (request, plan, policy, auth, info, cache,
lane, edges, tiff, transform), and what is left here is their order.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import tokens, transform, usage
from .auth import auth1_services, auth2_services, probe_result
from .cache import DiskCache, MemoryCache
from .config import Settings
from .errors import IIIFError, NotFound, Overloaded, Unauthorized
from .gate import PerClient, TooManyRequests
from .info import CONTEXT_2, CONTEXT_3, PROFILE_2, PROFILE_3, info_json
from .lane import Job, Lane, LaneSettings
from .memory import Trimmer
from .objects import LocalReader, open_reader
from .plan import Limits, Plan, plan
from .policy import (
    Access,
    Credential,
    Grant,
    Policy,
    PolicyStore,
    decide,
    in_networks,
)
from .request import (
    BaseRequest,
    ImageRequest,
    InfoRequest,
    ProbeRequest,
    Route,
    Version,
    parse_path,
)
from .sources import Source, SourceStore
from .telemetry import cache_lookup
from .tiff import TiffLayoutError, read_tile

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Headers = list[tuple[str, str]]

STATUS_LINES = {
    200: "200 OK",
    204: "204 No Content",
    303: "303 See Other",
    304: "304 Not Modified",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    501: "501 Not Implemented",
    503: "503 Service Unavailable",
}
CORS: Headers = [("Access-Control-Allow-Origin", "*")]
# An answer about an image not open to all depends on who asks, and from which page.
PRIVATE_VARY = ("Vary", "Cookie, Authorization, Origin")


def cors(environ: dict[str, Any], trusted: frozenset[str]) -> Headers:
    """For images not open to all, only trusted origins may read them with credentials.

    A viewer on our own site or a partner's named one sends the reader's access cookie,
    and the browser lets it read the answer only if the origin is named here. Any other
    page gets '*', under which browsers send no cookie and read nothing private.
    """
    origin = str(environ.get("HTTP_ORIGIN", ""))
    if origin.lower() in trusted:
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
        ]
    return CORS


class Response:
    __slots__ = ("status", "headers", "body", "private")

    def __init__(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.private = False  # about an image not open to all: CORS names the origin


def text_response(status: int, message: str) -> Response:
    """A plain-text answer; a refusal or failure is stored by no cache (a 404 may otherwise
    be kept by heuristics, and a refusal must end when access opens)."""
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    if status >= 400:
        headers.append(("Cache-Control", "no-store"))
    return Response(status, headers, (message + "\n").encode())


def raw_path(environ: dict[str, Any]) -> str:
    """The request path still percent-encoded, so an encoded '/' in an id stays one segment."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = str(raw).split("?", 1)[0]
        script = environ.get("SCRIPT_NAME", "")
        return path[len(script) :] if script and path.startswith(script) else path
    path_info: str = environ.get("PATH_INFO", "")
    return quote(path_info.encode("latin-1"), safe="/:,!^;=")


class ImageServer:
    """A WSGI application serving the IIIF Image API from pyramidal TIFFs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = Limits(
            settings.max_width,
            settings.max_height,
            settings.max_area,
            max_lossless_area=settings.max_lossless_area,
            max_gif_edge=settings.max_gif_edge,
        )
        s3 = settings.s3_variables()
        reader = open_reader(settings.storage_url, s3, settings.s3_revalidate_seconds)
        self.sources = SourceStore(reader, settings.source_cache_size)
        # Sidecars change when access changes: from S3 they are revalidated on every
        # read, and PolicyStore bounds those reads to one per POLICY_TTL_SECONDS.
        policy_reader = open_reader(settings.storage_url, s3, 0.0)
        self.policies = PolicyStore(policy_reader, settings.policy_ttl_seconds)
        shared = min(settings.shared_cache_max_age, settings.cache_max_age)
        self.cache_control = f"public, max-age={settings.cache_max_age}, s-maxage={shared}"
        self.memory = MemoryCache(settings.tile_cache_mb * 1024 * 1024)
        cache_dir = settings.derivative_cache_dir
        self.disk = (
            DiskCache(Path(cache_dir), settings.derivative_cache_mb * 1024 * 1024)
            if cache_dir
            else None
        )
        self.lane = Lane(
            LaneSettings(
                queue=settings.lane_queue,
                wait=settings.lane_wait,
                seconds=settings.render_seconds,
                memory_mb=settings.render_memory_mb,
                retry_after=settings.retry_after,
                lockdown=settings.vips_lockdown,
            )
        )
        self.per_client = PerClient(settings.large_per_client, settings.retry_after)
        self.token_keys = settings.access_token_keys
        self.access_cookie = settings.access_cookie
        self.public_url = settings.public_url
        self.onsite_networks = settings.onsite_networks
        self.proxy_hops = settings.proxy_hops
        self.trusted_origins = settings.trusted_origins
        self.jpeg_quality = settings.jpeg_quality
        self.trimmer = Trimmer(settings.trim_every)
        self.usage = usage.sender(settings.public_url, settings.access_token_keys)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if method == "OPTIONS":
                response = Response(
                    204,
                    [
                        ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
                        ("Access-Control-Allow-Headers", "Authorization, If-None-Match"),
                        ("Access-Control-Max-Age", "86400"),
                    ],
                )
            elif method not in ("GET", "HEAD"):
                response = text_response(405, "only GET, HEAD and OPTIONS are allowed")
                response.headers.append(("Allow", "GET, HEAD, OPTIONS"))
            else:
                response = self.dispatch(environ)
        except (Overloaded, TooManyRequests) as exc:
            response = text_response(exc.status, str(exc))
            response.headers.append(("Retry-After", str(exc.retry_after)))
        except IIIFError as exc:
            response = text_response(exc.status, str(exc))
        except Exception:  # a bug of ours: log it, never show it
            log.exception("image request failed: %s", environ.get("PATH_INFO"))
            response = text_response(500, "internal server error")
        headers = response.headers + (
            cors(environ, self.trusted_origins) if response.private else CORS
        )
        headers.append(("Content-Length", str(len(response.body))))
        start_response(STATUS_LINES.get(response.status, str(response.status)), headers)
        return [] if method == "HEAD" else [response.body]

    def dispatch(self, environ: dict[str, Any]) -> Response:
        path = raw_path(environ)
        if path == "/health":
            return text_response(200, "ok")
        if path == "/ready":
            return self.ready(environ)
        if not path.startswith("/iiif/"):
            raise NotFound("not found; image URLs start with /iiif/3/ or /iiif/2/")
        route = parsed(path[len("/iiif/") :])
        base = self.service_id(environ, route.version, route.identifier)
        if isinstance(route, BaseRequest):
            return Response(303, [("Location", f"{base}/info.json")])
        policy = self.policies.get(route.identifier)
        response = self.answer(environ, route, base, policy)
        response.private = not policy.is_public
        return response

    def ready(self, environ: dict[str, Any]) -> Response:
        """Ready when the object storage answers: a missing probe object is an answer.

        What failed is said to anyone; why (the exception's class) only to the monitoring
        networks, and always to the log."""
        reader = self.policies.reader
        try:
            if isinstance(reader, LocalReader) and not reader.root.is_dir():
                raise FileNotFoundError(str(reader.root))
            reader.local_path("ready/probe")
        except KeyError:
            pass
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
            log.warning("not ready: storage: %s", exc)
            monitoring = in_networks(self.client_address(environ), self.settings.monitor_networks)
            reason = f"unreachable: {type(exc).__name__}" if monitoring else "unreachable"
            return json_response(503, {"storage": reason}, private=True)
        return json_response(200, {"storage": "ok"}, private=True)

    def answer(self, environ: dict[str, Any], route: Route, base: str, policy: Policy) -> Response:
        # A token from the IIIF token services opens info.json and the probe, as the Auth
        # specs use it; pixels need the access cookie (or the reading room's address).
        bearer_allowed = isinstance(route, InfoRequest | ProbeRequest)
        grant = decide(policy, self.held(environ, policy, bearer_allowed))
        if grant.kind is Access.HIDDEN:
            raise NotFound("no image has this identifier", "identifier")
        source = self.sources.get(route.identifier)
        limits = self.limits_for(grant, source)
        if isinstance(route, ProbeRequest):
            return json_response(200, probe_result(grant, base), private=True)
        if isinstance(route, InfoRequest):
            return self.info(environ, route.version, base, source, policy, limits, grant)
        if grant.kind is Access.NONE:
            raise Unauthorized("sign in to see this image; see the auth services in info.json")
        assert isinstance(route, ImageRequest)
        response = self.image(environ, route, base, source, limits, policy, grant)
        if route.region.kind == "full" and self.usage is not None:  # tiles stop here
            self.count_request(environ, route, source, limits, policy)
        return response

    def count_request(
        self,
        environ: dict[str, Any],
        request: ImageRequest,
        source: Source,
        limits: Limits,
        policy: Policy,
    ) -> None:
        """A render of the whole image at full size is a COUNTER request of its item."""
        image_plan = planned(request, source.info, limits)
        info = source.info
        if (
            policy.item
            and self.usage
            and usage.is_item_request(
                request.region.kind,
                request.size.kind,
                image_plan.width,
                image_plan.height,
                info.width,
                info.height,
            )
        ):
            agent = str(environ.get("HTTP_USER_AGENT", ""))
            address = self.client_address(environ)
            found = usage.ItemRequest(time.time(), policy.item, request.identifier, address, agent)
            self.usage.record(found)

    def held(self, environ: dict[str, Any], policy: Policy, bearer_allowed: bool) -> frozenset[str]:
        """The credentials of this request: the reading room by its address, and the grants
        of a valid, unrevoked access cookie (or bearer token, where allowed)."""
        if policy.is_public:
            return frozenset()
        held = self.token_grants(environ, bearer_allowed)
        if self.onsite_networks and in_networks(self.client_address(environ), self.onsite_networks):
            held |= {Credential.ONSITE.value}
        return held

    def token_grants(self, environ: dict[str, Any], bearer_allowed: bool) -> frozenset[str]:
        if self.token_keys is None:
            return frozenset()
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        token = header[7:].strip() if bearer_allowed and header[:7].lower() == "bearer " else ""
        if not token:
            cookie = SimpleCookie()
            try:
                cookie.load(str(environ.get("HTTP_COOKIE", "")))
            except CookieError:
                return frozenset()
            morsel = cookie.get(self.access_cookie)
            token = morsel.value if morsel else ""
        if not token:
            return frozenset()
        try:
            claims = tokens.verify(self.token_keys, token)
        except tokens.TokenError:
            return frozenset()
        if not self.policies.revocations().allows(claims.subject, claims.epoch):
            return frozenset()  # signed out, or their role or groups changed since
        return claims.grants

    def client_address(self, environ: dict[str, Any]) -> str:
        """The client's address; behind PROXY_HOPS proxies, from X-Forwarded-For."""
        if self.proxy_hops:
            forwarded = [a.strip() for a in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
            if len(forwarded) >= self.proxy_hops:
                return forwarded[-self.proxy_hops]
            return ""
        return str(environ.get("REMOTE_ADDR", ""))

    def limits_for(self, grant: Grant, source: Source) -> Limits:
        """A degraded image's scale is capped; an image the client may not see has none."""
        if grant.kind is Access.NONE:
            return replace(self.limits, max_scale=0.0)
        if grant.kind is not Access.DEGRADED:
            return self.limits
        longest = max(source.info.width, source.info.height)
        return replace(self.limits, max_scale=min(1.0, grant.max_edge / longest))

    def service_id(self, environ: dict[str, Any], version: Version, identifier: str) -> str:
        public = self.settings.image_url
        if not public:
            host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
            public = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
            public += environ.get("SCRIPT_NAME", "")
        return f"{public.rstrip('/')}/iiif/{version.value}/{quote(identifier, safe='')}"

    def info(
        self,
        environ: dict[str, Any],
        version: Version,
        base: str,
        source: Source,
        policy: Policy,
        limits: Limits,
        grant: Grant,
    ) -> Response:
        services = None
        # Clients learn how to sign in from a refusal; a reader who already has access
        # is not offered it again (Mirador would show its sign-in bar over the image).
        if grant.kind is not Access.FULL:
            services = auth1_services(self.public_url, policy)
            if version is Version.V3:
                services += auth2_services(self.public_url, base)
        key = f"info/{base}/{source.fingerprint}/{policy.fingerprint}/{grant.key}"
        body = self.memory.get(key)
        if body is None:
            document = info_json(version, base, source.info, limits, services)
            body = json.dumps(document).encode()
            self.memory.put(key, body)
        context = CONTEXT_3 if version is Version.V3 else CONTEXT_2
        profile = PROFILE_3 if version is Version.V3 else PROFILE_2
        if "application/ld+json" in environ.get("HTTP_ACCEPT", ""):
            content_type = f'application/ld+json;profile="{context}"'
        else:
            content_type = "application/json"
        etag = f'"{source.fingerprint}-i{version.value}-{policy.fingerprint}-{grant.key}"'
        headers = [
            ("Content-Type", content_type),
            ("Link", f'<{profile}>;rel="profile"'),
            *self.caching(policy),
            ("ETag", etag),
            ("Last-Modified", source.last_modified),
        ]
        # Auth 1.0: a client without access gets the description, with status 401.
        status = 401 if grant.kind is Access.NONE else 200
        if status == 200 and environ.get("HTTP_IF_NONE_MATCH") == etag:
            return Response(304, headers)
        return Response(status, headers, body)

    def caching(self, policy: Policy) -> Headers:
        """Public images may be cached by anyone; the others only by the reader's browser."""
        if policy.is_public:
            return [("Cache-Control", self.cache_control)]
        return [("Cache-Control", "private, max-age=600"), PRIVATE_VARY]

    def image(
        self,
        environ: dict[str, Any],
        request: ImageRequest,
        base: str,
        source: Source,
        limits: Limits,
        policy: Policy,
        grant: Grant,
    ) -> Response:
        image_plan = planned(request, source.info, limits)
        if limits.max_scale is not None and too_detailed(image_plan, limits.max_scale):
            raise Unauthorized("sign in to see this image at this size")
        # The derivative's checksum (from its sidecar) keeps ETags equal on every server.
        # What the grant allowed is part of the key: 'max' is a smaller image for a degraded
        # viewer than for a reader, and the two must never share a cache entry or an ETag.
        identity = policy.sha256 or source.fingerprint
        digest = hashlib.blake2s(
            f"{identity}/{policy.fingerprint}/{grant.key}/{image_plan.canonical}".encode(),
            digest_size=12,
        ).hexdigest()
        etag = f'"{digest}"'
        profile = PROFILE_3 if request.version is Version.V3 else PROFILE_2
        headers = [
            ("Content-Type", transform.MEDIA_TYPES[image_plan.format]),
            ("Link", f'<{base}/{image_plan.canonical}>;rel="canonical", <{profile}>;rel="profile"'),
            *self.caching(policy),
            ("ETag", etag),
            ("Last-Modified", source.last_modified),
        ]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            return Response(304, headers)
        key = f"{source.fingerprint}/{digest}"
        body = self.render(source, image_plan, key, self.client_address(environ))
        return Response(200, headers, body)

    def render(self, source: Source, image_plan: Plan, key: str, client: str) -> bytes:
        """Passthrough, then memory, then disk, then pyvips: in this thread for tiles, in
        the slow lane for anything larger (one at a time per client)."""
        body = passthrough(source, image_plan)
        if body is not None:
            return body
        body = self.memory.get(key)
        cache_lookup("image", "memory", body is not None)
        if body is not None:
            return body
        body = self.disk.get(key) if self.disk else None
        if self.disk:
            cache_lookup("image", "disk", body is not None)
        if body is None:
            body = self.decode_and_encode(source, image_plan, client)
            if self.disk:
                self.disk.put(key, body)
        self.memory.put(key, body)
        return body

    def decode_and_encode(self, source: Source, image_plan: Plan, client: str) -> bytes:
        if not image_plan.is_tile:
            with self.per_client.slot(client):
                return self.lane.render(Job(str(source.path), image_plan, self.jpeg_quality))
        try:
            image = transform.render(image_plan, source.pages[image_plan.page])
            return transform.encode(image, image_plan.format, self.jpeg_quality)
        finally:
            self.trimmer.rendered()


# Parsing and planning are pure, and the same tiles are asked for again and again: both
# are remembered (a failure is not, and is worked out anew each time).
parsed = functools.lru_cache(maxsize=16_384)(parse_path)
planned = functools.lru_cache(maxsize=16_384)(plan)


def too_detailed(image_plan: Plan, max_scale: float) -> bool:
    """Whether a request shows more detail than a degraded image may (any region, any size)."""
    scale = max(image_plan.width / image_plan.region.w, image_plan.height / image_plan.region.h)
    return scale > max_scale * 1.01 + 1e-9


def json_response(status: int, document: dict[str, Any], private: bool = False) -> Response:
    headers = [("Content-Type", "application/json")]
    if private:
        headers += [("Cache-Control", "no-store"), PRIVATE_VARY]
    return Response(status, headers, json.dumps(document).encode())


def passthrough(source: Source, image_plan: Plan) -> bytes | None:
    """The stored JPEG of exactly the tile asked for: a whole tile of the TIFF, or a clipped
    edge tile from the trailer written at ingest (see edges.py)."""
    if (
        image_plan.format != "jpg"
        or image_plan.quality not in ("default", "color")
        or image_plan.rotation.degrees
        or image_plan.rotation.mirror
    ):
        return None
    grid = source.grids[image_plan.page]
    box = image_plan.page_region
    if grid is None or (box.w, box.h) != (image_plan.width, image_plan.height):
        return None
    try:
        if grid.is_whole_tile(box.x, box.y, box.w, box.h):
            return read_tile(source.file.fileno(), grid, box.x, box.y)
        edge = source.edges.get((image_plan.page, box.x, box.y))
        if edge is None or (edge[2], edge[3]) != (box.w, box.h):
            return None
        data = os.pread(source.file.fileno(), edge[1], edge[0])
        return data if len(data) == edge[1] and data.startswith(b"\xff\xd8") else None
    except (OSError, TiffLayoutError):
        return None  # fall back to decoding
