"""Download plumbing without a server: URL file names, the redirect policy, CA bundles from the environment."""

from __future__ import annotations

import email.message
import io
import urllib.request

import pytest

from sam_edge.download.api import url_file_name
from sam_edge.download.errors import DownloadError
from sam_edge.download.http_client import SameSchemeRedirectHandler, ssl_context
from sam_edge.runtime.errors import InvalidInputError


def test_url_file_names():
    assert url_file_name("https://host/a/sam%20b.pth?x=1") == "sam b.pth"
    for url, fragment in (
        ("ftp://host/x.pth", "is not an http"),
        ("https://host/dir/", "does not end in a file"),
    ):
        with pytest.raises(InvalidInputError, match=fragment):
            url_file_name(url)


def test_https_to_http_redirect_is_refused_before_any_request():
    headers = email.message.Message()
    headers["Location"] = "http://mirror.example.invalid/x.pth"
    request = urllib.request.Request("https://weights.example.invalid/x.pth")
    with pytest.raises(DownloadError) as caught:
        SameSchemeRedirectHandler().http_error_302(request, io.BytesIO(), 302, "Found", headers)
    assert str(caught.value).startswith(
        "refused the redirect from https://weights.example.invalid/x.pth to http://mirror.example.invalid/x.pth: "
        "it changes the scheme from https to http"
    )


def test_unreadable_ca_bundle_is_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(DownloadError) as caught:
        ssl_context()
    assert str(caught.value).startswith(f"cannot read the CA bundle {tmp_path / 'missing.pem'}: ")
    assert str(caught.value).endswith("; fix or unset REQUESTS_CA_BUNDLE")
