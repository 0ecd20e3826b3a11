"""The back end's /docs page works offline: Swagger UI comes from the package, not a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from backend import BackendServer, BackendSettings


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings()) as srv:
        yield srv


def test_docs_reference_no_external_host_and_every_asset_loads(server: BackendServer) -> None:
    page = requests.get(f"{server.url}/docs", timeout=5)
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page.text)
    assert "cdn" not in page.text.lower()
    assets = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page.text)
    assets += re.findall(r"url: '([^']+)'", page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        resp = requests.get(server.url + asset, timeout=5)
        assert resp.status_code == 200 and resp.content, asset


def test_the_docs_need_no_key_but_the_api_still_does(server: BackendServer) -> None:
    assert requests.get(f"{server.url}/openapi.json", timeout=5).status_code == 200
    assert requests.get(f"{server.url}/v1/payment-codes/keys", timeout=5).status_code == 401
