"""The operator console's sign-in over real HTTP: links, keys, sessions, CSRF, expiry, roles."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend.console.links import mint_link_token
from backend.console.operators import dev_operator_key
from backend.console.sessions import ABSOLUTE_TIMEOUT_S, IDLE_TIMEOUT_S
from backend.keyring import dev_entry
from backend.server import BackendServer
from backend.settings import BackendSettings
from terminal.cli.main import main
from tests.console_support import OPERATOR, csrf_of, hidden_fields, link_for, sign_in

START = 1_790_000_000.0


@pytest.fixture
def clock() -> list[float]:
    return [START]


@pytest.fixture
def server(clock: list[float]) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=lambda: clock[0])) as srv:
        yield srv


def _login_reason(answer: requests.Response) -> str:
    found = hidden_reason(answer.text)
    assert found, answer.text
    return found


def hidden_reason(html: str) -> str:
    marker = 'data-reason="'
    start = html.find(marker)
    return html[start + len(marker):html.index('"', start + len(marker))] if start >= 0 else ""


def test_a_link_signs_in_once_with_a_hashed_session_in_a_strict_cookie(server) -> None:
    http = requests.Session()
    link = link_for(server)
    page = http.get(server.url + link, timeout=5)
    assert page.status_code == 200 and "Sign in as emu-operator-0001" in page.text
    answer = http.post(server.url + "/console/link", data=hidden_fields(page.text),
                       allow_redirects=False, timeout=5)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/fleet"
    cookie = answer.headers["set-cookie"].lower()
    assert "scanpay_console=" in cookie and "httponly" in cookie
    assert "samesite=strict" in cookie and "path=/console" in cookie and "max-age=" in cookie
    token = http.cookies.get("scanpay_console", path="/console")
    with server.backend.store.transaction() as conn:
        stored = [r[0] for r in conn.execute("SELECT session_hash FROM console_sessions")]
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]  # never the token itself
    fleet = http.get(server.url + "/console/fleet", timeout=5)
    assert fleet.status_code == 200 and "Signed in as" in fleet.text
    assert "emu-operator-0001" in fleet.text
    # The same link a second time, in another browser: refused with the reason.
    other = requests.Session()
    again = other.get(server.url + link, timeout=5)
    second = other.post(server.url + "/console/link", data=hidden_fields(again.text),
                        allow_redirects=False, timeout=5)
    assert second.status_code == 400 and _login_reason(second) == "used"
    assert "already used" in second.text


def test_an_expired_or_forged_link_is_refused_with_a_clear_message(server, clock) -> None:
    link = link_for(server)
    clock[0] += 301
    answer = requests.get(server.url + link, timeout=5)
    assert answer.status_code == 400 and _login_reason(answer) == "link_expired"
    assert "has expired" in answer.text
    forged = link_for(server)[:-3] + ("AAA" if not link_for(server).endswith("AAA") else "BBB")
    answer = requests.get(server.url + forged, timeout=5)
    assert answer.status_code == 400 and _login_reason(answer) == "forged"
    answer = requests.get(server.url + "/console/link?token=nonsense", timeout=5)
    assert answer.status_code == 400 and _login_reason(answer) == "malformed"


def test_a_link_for_a_key_of_another_role_opens_nothing(server) -> None:
    bike = dev_entry(server.settings.signing_seed_hex, "emu-bike-0001", "bike_lock")
    token = mint_link_token(operator_id="emu-bike-0001", key_id=bike.key_id,
                            sign_secret=bike.sign_secret, now=server.backend.now())
    answer = requests.get(f"{server.url}/console/link?token={token}", timeout=5)
    assert answer.status_code == 400 and _login_reason(answer) == "no_operator"


def test_the_key_form_takes_operator_keys_only(server) -> None:
    http = requests.Session()
    form = hidden_fields(http.get(server.url + "/console/login", timeout=5).text)
    bike_key = server.api_key_for("emu-bike-0001")
    answer = http.post(server.url + "/console/login", data={**form, "api_key": bike_key},
                       allow_redirects=False, timeout=5)
    assert answer.status_code == 403 and _login_reason(answer) == "not_operator"
    form = hidden_fields(answer.text)
    answer = http.post(server.url + "/console/login", data={**form, "api_key": "sk_wrong_key"},
                       allow_redirects=False, timeout=5)
    assert answer.status_code == 401 and _login_reason(answer) == "unknown_key"
    form = hidden_fields(answer.text)
    key = server.api_key_for(OPERATOR)
    answer = http.post(server.url + "/console/login", data={**form, "api_key": key},
                       allow_redirects=False, timeout=5)
    assert answer.status_code == 303
    assert http.get(server.url + "/console/fleet", timeout=5).status_code == 200


def test_a_sign_in_form_needs_its_own_cookie(server) -> None:
    page = requests.get(server.url + link_for(server), timeout=5)
    # Posted without the pre-sign-in cookie (as another site's form would): nothing is spent.
    answer = requests.post(server.url + "/console/link", data=hidden_fields(page.text),
                           allow_redirects=False, timeout=5)
    assert answer.status_code == 400 and _login_reason(answer) == "cookies"


def test_without_a_session_every_page_sends_you_to_sign_in(server) -> None:
    for path in ("/console", "/console/fleet", "/console/fleet/bike-0001", "/console/disputes",
                 "/console/disputes/dsp_00000000000000000000000000000000"):
        answer = requests.get(server.url + path, allow_redirects=True, timeout=5)
        assert answer.url.startswith(server.url + "/console/login"), path
        assert answer.status_code == 200 and _login_reason(answer) == "signin"
    poll = requests.get(server.url + "/console/fleet/rows", headers={"X-Console-Poll": "1"},
                        timeout=5)
    assert poll.status_code == 401 and poll.json()["signed_in"] is False


def test_posts_need_the_sessions_csrf_token_and_the_same_origin(server) -> None:
    http = sign_in(server)
    csrf = csrf_of(http, server)
    for data in ({}, {"csrf": "0" * 64}):
        answer = http.post(server.url + "/console/logout", data=data, allow_redirects=False,
                           timeout=5)
        assert answer.status_code == 403 and "CSRF" in answer.text
    answer = http.post(server.url + "/console/logout", data={"csrf": csrf},
                       headers={"Origin": "http://evil.example"}, allow_redirects=False,
                       timeout=5)
    assert answer.status_code == 403 and "another site" in answer.text
    assert http.get(server.url + "/console/fleet", timeout=5).status_code == 200  # still in
    answer = http.post(server.url + "/console/logout", data={"csrf": csrf},
                       headers={"Origin": server.url}, allow_redirects=False, timeout=5)
    assert answer.status_code == 303 and answer.headers["location"].endswith("msg=signed_out")
    after = requests.get(server.url + "/console/fleet", allow_redirects=False, timeout=5,
                         cookies={"scanpay_console": "x"})
    assert after.status_code == 303
    # The old cookie's session is over, even if the browser kept it.
    token_page = http.get(server.url + "/console/fleet", allow_redirects=False, timeout=5)
    assert token_page.status_code == 303


def test_a_session_ends_when_idle_and_after_its_lifetime(server, clock) -> None:
    http = sign_in(server)
    clock[0] += IDLE_TIMEOUT_S - 10
    assert http.get(server.url + "/console/fleet", timeout=5).status_code == 200
    clock[0] += IDLE_TIMEOUT_S + 1
    answer = http.get(server.url + "/console/fleet", allow_redirects=False, timeout=5)
    assert answer.status_code == 303 and answer.headers["location"].endswith("msg=expired")
    http = sign_in(server)
    started, step = clock[0], IDLE_TIMEOUT_S - 60
    while clock[0] + step < started + ABSOLUTE_TIMEOUT_S:  # active all day: never idle
        clock[0] += step
        assert http.get(server.url + "/console/fleet", allow_redirects=False,
                        timeout=5).status_code == 200
    clock[0] += step
    answer = http.get(server.url + "/console/fleet", allow_redirects=False, timeout=5)
    assert answer.status_code == 303 and answer.headers["location"].endswith("msg=expired")


def test_a_page_refreshing_itself_does_not_keep_the_session_alive(server, clock) -> None:
    http = sign_in(server)
    poll = {"X-Console-Poll": "1"}
    for _ in range(3):
        clock[0] += IDLE_TIMEOUT_S / 3 - 1
        assert http.get(server.url + "/console/fleet/rows", headers=poll,
                        timeout=5).status_code == 200
    clock[0] += 5
    answer = http.get(server.url + "/console/fleet/rows", headers=poll, timeout=5)
    assert answer.status_code == 401 and "session has ended" in answer.json()["message"]


@pytest.mark.sqlite_only
def test_pages_carry_strict_security_headers_and_stay_out_of_the_api(server) -> None:
    http = sign_in(server)
    page = http.get(server.url + "/console/fleet", timeout=5)
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    paths = requests.get(server.url + "/openapi.json", timeout=5).json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]
    # The console's cookie is no API key: the API still wants one.
    assert http.get(server.url + "/v1/chain-gaps", timeout=5).status_code == 401
    assert requests.get(server.url + "/console/static/console.css", timeout=5).ok
    assert requests.get(server.url + "/console/static/secret.py", timeout=5).status_code == 404


@pytest.mark.sqlite_only
def test_the_cli_prints_a_link_a_keyring_back_end_accepts(tmp_path: Path, capsys) -> None:
    ring = tmp_path / "ring.json"
    assert main(["backend", "keys", "create", "--keyring", str(ring), "--terminal", "ops-anna",
                 "--role", "operator"]) == 0
    assert main(["backend", "keys", "create", "--keyring", str(ring), "--terminal", "bike-9",
                 "--role", "bike_lock"]) == 0
    assert stat.S_IMODE(ring.stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["backend", "console-link", "--keyring", str(ring), "--operator", "bike-9"]) == 1
    assert "no usable operator key for 'bike-9'" in capsys.readouterr().err
    assert main(["backend", "console-link", "--keyring", str(ring), "--operator", "ops-anna",
                 "--url", "http://127.0.0.1:1/"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://127.0.0.1:1/console/link?token=")
    from backend.keyring import load_keyring

    settings = BackendSettings(dev=False, keyring=load_keyring(ring), seed_demo=False,
                               dev_routes=False, terminals=())
    with BackendServer(settings) as srv:
        http = requests.Session()
        page = http.get(srv.url + link.split("http://127.0.0.1:1", 1)[1], timeout=5)
        assert page.status_code == 200, page.text
        answer = http.post(srv.url + "/console/link", data=hidden_fields(page.text),
                           allow_redirects=False, timeout=5)
        assert answer.status_code == 303
        assert "ops-anna" in http.get(srv.url + "/console/fleet", timeout=5).text
    assert json.loads(ring.read_text())["format"].startswith("scanpay-backend-keyring")


@pytest.mark.sqlite_only
def test_dev_links_need_an_operator_id(capsys) -> None:
    assert main(["backend", "console-link", "--dev", "--operator", "emu-bike-0001"]) == 1
    assert "not a development operator id" in capsys.readouterr().err
    assert dev_operator_key("00" * 32, "emu-kiosk-0001") is None
