"""Guarded HTTP: what we fetch ourselves from partners (OAI-PMH pages, manifests).

Every answer is streamed under a size cap and a deadline, redirects are followed here
and each hop checked, and every host must be on the public internet unless the
deployment allows its own networks: a partner's URL cannot make us call our own services.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.hooks import dispatch_hook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .cleaning import http_url
from .errors import Refused, ServiceError, TooLarge, Unavailable

MAX_REDIRECTS = 5
MAX_MANIFEST_BYTES = 20 * 1024 * 1024
ALLOW_SETTING = "TANGTHU_HARVEST_ALLOW_NETWORKS"  # named in refusals: the fix is there
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, not is_private
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the last 32 bits are an IPv4 address


def _fetch_error(code: str, message: str) -> ServiceError:
    """A fetch we will not make or could not finish, as its kind; ``code`` says which
    (``badUrl``, ``timeout``, ``httpError``, ``tooLarge``), as OAI-PMH harvesters name them."""
    if code == "badUrl":
        return Refused(message, code=code)
    if code == "tooLarge":
        return TooLarge(message, code=code)
    return Unavailable(message, code=code)


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    content_type: str
    url: str
    status: int
    retry_after: str = ""


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64): where a connection
    to it really goes."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _local_kind(ip: IPAddress) -> str:
    """What makes an address one of ours rather than the internet's, or "" if nothing.

    ``is_global`` alone lets multicast and IPv6 site-local through, hence the list.
    """
    embedded = _embedded_ipv4(ip)
    if embedded is not None:  # judged by where it leads
        return _local_kind(embedded)
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local, where cloud metadata services answer"),
        (ip.is_multicast, "multicast"),
        (ip in _SHARED, "shared, carrier-grade NAT"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (not ip.is_global, "not routed on the internet"),
    )
    return next((kind for refused, kind in checks if refused), "")


def _allowed(ip: IPAddress, allow_networks: Iterable[IPNetwork]) -> bool:
    candidates = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    return any(
        candidate in network
        for network in allow_networks
        for candidate in candidates
        if candidate.version == network.version
    )


def check_public_host(
    url: str, params: dict[str, str] | None = None, allow_networks: Iterable[IPNetwork] = ()
) -> str:
    """The address to connect to for a URL, after refusing (Refused, code badUrl) one whose
    host resolves to any address that is not on the public internet, unless that address
    is in ``allow_networks``.

    The host is taken from the URL as requests prepares it (IDNA, brackets), so what is
    checked is what will be asked for. Every address counts: a name with one public and
    one private address could be reached at either. Connect to the address returned,
    never to the name: resolved again, it may answer otherwise (DNS rebinding).
    """
    try:
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, params)
        parsed = urllib3.util.parse_url(prepared.url or "")
        host = (parsed.host or "").strip("[]")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError):
        raise _fetch_error("badUrl", f"not an address that can be fetched: {url[:200]!r}") from None
    if not host:
        raise _fetch_error("badUrl", f"no host in {url[:200]!r}")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _fetch_error(
            "httpError",
            f"cannot fetch {url[:200]}: the name {host} does not resolve ({reason});"
            " check the address",
        ) from None
    allow = tuple(allow_networks)
    for *_rest, sockaddr in found:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        kind = _local_kind(ip)
        if kind and not _allowed(ip, allow):
            try:
                literal = ipaddress.ip_address(host.split("%", 1)[0]) == ip
            except ValueError:
                literal = False
            leads = _embedded_ipv4(ip)
            shown = f"{ip} (that is, {leads})" if leads else str(ip)
            named = f"{shown} is" if literal else f"{host} resolves to {shown},"
            entry = ipaddress.ip_network(leads or ip)  # a single address, as a network
            raise _fetch_error(
                "badUrl",
                f"{named} a private or local address ({kind}), which is refused; to harvest"
                f" inside your own network, add it (e.g. {entry}) to {ALLOW_SETTING}",
            )
    return str(found[0][4][0])


def _pinned(connection: type[HTTPConnection], address: str) -> type[HTTPConnection]:
    class Pinned(connection):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            # urllib3 opens the socket to _dns_host, and uses the same attribute as the
            # name for Host and TLS afterwards: swap it for the socket only.
            name: str = getattr(self, "_dns_host")  # noqa: B009 - urllib3's private name
            self._dns_host = address
            try:
                return super()._new_conn()  # type: ignore[no-any-return]
            finally:
                self._dns_host = name

    return Pinned


class PinnedAdapter(HTTPAdapter):
    """Connects to one address, already checked, whatever the name resolves to now; the
    Host header, TLS SNI and the certificate's check still use the URL's name."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = {
            "http": type(
                "PinnedPool",
                (HTTPConnectionPool,),
                {"ConnectionCls": _pinned(HTTPConnection, self.address)},
            ),
            "https": type(
                "PinnedHTTPSPool",
                (HTTPSConnectionPool,),
                {"ConnectionCls": _pinned(HTTPSConnection, self.address)},
            ),
        }


def fetch_bounded(
    session: requests.Session,
    url: str,
    params: dict[str, str] | None = None,
    *,
    connect_timeout: float = 10,
    read_timeout: float = 30,
    max_bytes: int = MAX_MANIFEST_BYTES,
    deadline: float | None = None,
    accept: str = "*/*",
    allow_networks: Iterable[IPNetwork] = (),
) -> Fetched:
    """GET an http(s) URL, streamed: refused past ``max_bytes`` or past ``deadline``.

    Redirects (at most five) are followed here, not by requests, which would read a
    redirect's whole body, and each one must stay on http(s). Every hop's host must be
    on the public internet or in ``allow_networks`` (see check_public_host).
    """
    for _hop in range(MAX_REDIRECTS + 1):
        if not http_url(url):
            raise _fetch_error("badUrl", f"only http and https addresses can be fetched: {url!r}")
        adapter = PinnedAdapter(check_public_host(url, params, allow_networks))
        if deadline is not None and time.monotonic() >= deadline:
            raise _fetch_error("timeout", "the time allowed for this run is over")
        read = read_timeout
        if deadline is not None:
            read = max(0.1, min(read_timeout, deadline - time.monotonic()))
        # The session's headers, cookies, hooks and TLS settings, but our own connection.
        asked = requests.Request("GET", url, params=params, headers={"Accept": accept})
        prepared = session.prepare_request(asked)
        try:
            with adapter.send(
                prepared,
                stream=True,
                timeout=(connect_timeout, read),
                verify=session.verify,
                cert=session.cert,
            ) as response:
                extract_cookies_to_jar(session.cookies, prepared, response.raw)
                dispatch_hook("response", prepared.hooks, response)
                location = response.headers.get("Location", "")
                if response.is_redirect and location:
                    url, params = urljoin(response.url, location), None
                    continue
                return _read_bounded(response, max_bytes, deadline)
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise _fetch_error("timeout", f"no answer from {url} in time") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _fetch_error(
                "httpError", f"cannot fetch {url}: {exc.__class__.__name__}"
            ) from None
        finally:
            adapter.close()
    raise _fetch_error("httpError", f"more than {MAX_REDIRECTS} redirects")


def _read_bounded(response: requests.Response, max_bytes: int, deadline: float | None) -> Fetched:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _fetch_error("tooLarge", f"the answer is larger than {max_bytes} bytes")
    chunks, size = [], 0
    while True:  # read1: whatever has come, so a trickle cannot outlast the deadline
        chunk = response.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise _fetch_error("tooLarge", f"the answer is larger than {max_bytes} bytes")
        if deadline is not None and time.monotonic() > deadline:
            raise _fetch_error("timeout", "the answer did not end in the time allowed")
        chunks.append(chunk)
    return Fetched(
        b"".join(chunks),
        response.headers.get("Content-Type", ""),
        response.url,
        response.status_code,
        response.headers.get("Retry-After", "").strip(),
    )
