"""Helpers for the operator-console tests: sign in over real HTTP, read forms' hidden fields."""

from __future__ import annotations

import re

import requests

from backend.console.links import mint_link_token
from backend.console.operators import dev_operator_key
from backend.server import BackendServer

OPERATOR = "emu-operator-0001"
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden fields of the forms on a page (the last value of each name)."""
    return dict(_HIDDEN.findall(html))


def link_for(server: BackendServer, operator: str = OPERATOR, *, ttl_s: int = 300) -> str:
    """A one-time sign-in link (path and query) for a development operator."""
    key = dev_operator_key(server.settings.signing_seed_hex, operator)
    assert key is not None
    token = mint_link_token(operator_id=operator, key_id=key.key_id, sign_secret=key.sign_secret,
                            now=server.backend.now(), ttl_s=ttl_s)
    return f"/console/link?token={token}"


def sign_in(server: BackendServer, operator: str = OPERATOR) -> requests.Session:
    """A requests session signed in to the console through a one-time link."""
    http = requests.Session()
    page = http.get(server.url + link_for(server, operator), timeout=5)
    assert page.status_code == 200, page.text
    answer = http.post(server.url + "/console/link", data=hidden_fields(page.text),
                       allow_redirects=False, timeout=5)
    assert answer.status_code == 303, answer.text
    return http


def csrf_of(http: requests.Session, server: BackendServer, path: str = "/console/fleet") -> str:
    """The CSRF token shown on a console page."""
    page = http.get(server.url + path, timeout=5)
    assert page.status_code == 200, page.text
    return hidden_fields(page.text)["csrf"]
