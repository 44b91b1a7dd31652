"""HTTP(S) requests for downloads: proxies and CA bundles from the environment, safe redirects, one-line errors.

urllib's ``ProxyHandler`` reads ``http_proxy`` / ``https_proxy`` / ``no_proxy``. Certificates: OpenSSL's
defaults honour ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``; ``REQUESTS_CA_BUNDLE`` (then ``CURL_CA_BUNDLE``) is
used when ``SSL_CERT_FILE`` is not set. A redirect may not change the scheme (https -> http, -> file:,
-> ftp:), except http -> https.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from sam_edge import __version__
from sam_edge.download.errors import DownloadError

USER_AGENT = f"sam-edge/{__version__}"
RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying (connection dropped, timeout, 5xx); ``str()`` is the one-line reason."""


class SameSchemeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects that keep the scheme (or upgrade http to https); refuses the others."""

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get("Location") or headers.get("URI")
        if target:
            new_url = urljoin(req.full_url, target)
            old, new = urlsplit(req.full_url).scheme, urlsplit(new_url).scheme
            if new != old and (old, new) != ("http", "https"):
                fp.close()
                raise DownloadError(
                    f"refused the redirect from {req.full_url} to {new_url}: it changes the scheme "
                    f"from {old} to {new}; only same-scheme redirects (or http to https) are followed"
                )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def ssl_context() -> ssl.SSLContext:
    """The default verifying context, with ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` when SSL_CERT_FILE is unset."""
    bundle = None
    if not os.environ.get("SSL_CERT_FILE"):
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    try:
        return ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError) as error:
        raise DownloadError(f"cannot read the CA bundle {bundle}: {error}; fix or unset REQUESTS_CA_BUNDLE") from None


class LazyHTTPSHandler(urllib.request.HTTPSHandler):
    """HTTPS with ``ssl_context()``, built at the first https request: loading the CA bundle takes ~50 ms."""

    def https_open(self, req):
        if self._context is None:
            self._context = ssl_context()
        return super().https_open(req)


def build_opener() -> urllib.request.OpenerDirector:
    """urllib's opener (proxies from the environment) with the CA context and the redirect policy."""
    return urllib.request.build_opener(LazyHTTPSHandler(), SameSchemeRedirectHandler())


@dataclass
class RangeResponse:
    """An open response to a (ranged) GET: where its body starts in the file and the file's total size."""

    response: http.client.HTTPResponse
    start: int
    total: int | None  # None: the server did not say
    url: str  # after redirects


def open_from(opener, url: str, offset: int, timeout: float) -> RangeResponse | None:
    """GET ``url`` from byte ``offset`` (a Range request when > 0); None when the range is past the end (416).

    Raises TransientError for what a retry may fix and DownloadError for what it will not.
    """
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = opener.open(request, timeout=timeout)
    except DownloadError:  # a refused redirect: an OSError too, but final
        raise
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416:
            return None
        reason = f"HTTP {error.code} {error.reason} from {error.url or url}"
        if error.code in RETRIABLE_STATUS:
            raise TransientError(reason) from None
        raise DownloadError(reason) from None
    except urllib.error.URLError as error:
        raise _connection_error(url, error.reason, timeout) from None
    except (OSError, http.client.HTTPException) as error:
        raise _connection_error(url, error, timeout) from None
    return _range_of(response, offset)


def _range_of(response, offset: int) -> RangeResponse:
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status == 206:
        start, total = _content_range(response.headers.get("Content-Range", ""))
        return RangeResponse(response, start if start is not None else offset, total, response.url)
    return RangeResponse(response, 0, length, response.url)  # 200: the server sends the whole file


def _content_range(value: str) -> tuple[int | None, int | None]:
    """(first byte, total size) of ``bytes 100-199/1000`` (total None for ``/*``)."""
    try:
        unit, _, spec = value.partition(" ")
        span, _, total = spec.partition("/")
        start = int(span.split("-")[0]) if unit == "bytes" else None
        return start, int(total) if total.isdigit() else None
    except ValueError:
        return None, None


def _connection_error(url: str, reason, timeout: float) -> Exception:
    """A one-line error for a failed connection: DNS, refused, unreachable, timeout, TLS."""
    host = urlsplit(url).hostname or url
    if isinstance(reason, ssl.SSLCertVerificationError):
        return DownloadError(
            f"the TLS certificate of {host} is not trusted ({reason.verify_message}); "
            "point SSL_CERT_FILE or REQUESTS_CA_BUNDLE at your CA bundle"
        )
    if isinstance(reason, socket.gaierror):
        return TransientError(
            f"cannot resolve {host} (DNS: {reason.strerror}); check the network, the proxy or SAM_EDGE_MIRROR"
        )
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return TransientError(f"{host} did not answer within {timeout:g} s")
    if isinstance(reason, ConnectionRefusedError):
        return TransientError(f"{host} refused the connection")
    if isinstance(reason, OSError) and reason.strerror:
        return TransientError(f"cannot connect to {host}: {reason.strerror}")
    return TransientError(f"cannot connect to {host}: {reason}")
