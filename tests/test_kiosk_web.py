"""The kiosk's local web app over real HTTP (no browser): taps, refusals, the pushed screen,
the JSON screen, the camera preview's headers and the static files."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from terminal.kiosk.order_states import KioskState
from tests.kiosk_support import KioskRig, kiosk_rig


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    """One kiosk for the module, back on its attract screen before each test."""
    with kiosk_rig(tmp_path_factory.mktemp("kiosk-web")) as kiosk:
        yield kiosk


@pytest.fixture
def kiosk(rig: KioskRig) -> KioskRig:
    """The kiosk on its attract screen."""
    flow = rig.app.flow
    if flow.state is KioskState.PAYING:
        flow.act("cancel_payment")
    if flow.state is KioskState.PAID:
        flow.act("finish")
    elif flow.state is not KioskState.ATTRACT:
        flow.act("cancel")
    return rig


def tap(rig: KioskRig, action: str, args: dict[str, Any] | None = None,
        **kwargs: Any) -> requests.Response:
    """POST one tap as the page does."""
    body: dict[str, Any] = {"action": action}
    if args is not None:
        body["args"] = args
    return requests.post(f"{rig.url}/action", json=body, timeout=10, **kwargs)


def raw_post(rig: KioskRig, head: str, body: bytes) -> tuple[int, bytes]:
    """Send ``head`` and ``body`` as they are (for lying headers); returns (status, response)."""
    url = urlsplit(rig.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_a_tap_moves_the_flow_and_answers_204(kiosk: KioskRig) -> None:
    response = tap(kiosk, "start")
    assert response.status_code == 204
    assert kiosk.app.flow.state is KioskState.DINING
    assert tap(kiosk, "dining", {"mode": "take_out"}).status_code == 204
    assert kiosk.screen()["dining"] == "take_out"


def test_a_tap_the_screen_does_not_offer_is_409_with_the_reason(kiosk: KioskRig) -> None:
    response = tap(kiosk, "checkout")
    assert response.status_code == 409
    assert response.json() == {"error": "not possible on the attract screen"}
    assert kiosk.app.flow.state is KioskState.ATTRACT


def test_an_unknown_action_is_409(kiosk: KioskRig) -> None:
    response = tap(kiosk, "self_destruct")
    assert response.status_code == 409
    assert response.json()["error"] == "unknown action 'self_destruct'"


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'"start"', b'{"args": {}}', b'{"action": 7}',
    b'{"action": "start", "args": ["mode"]}', b'{"action": "dining", "args": {"mode": 1}}',
    b'{"action": "dining", "args": {"mode": null}}', b"\xff\xfe", b"", b"[" * 4000,
    b'{"action": "start", "args": ' + b'{"a": ' * 500 + b"1" + b"}" * 501,
], ids=lambda body: body[:24].decode("latin-1"))
def test_malformed_taps_are_400_and_do_not_touch_the_flow(kiosk: KioskRig,
                                                           body: bytes) -> None:
    revision = kiosk.app.flow.revision
    response = requests.post(f"{kiosk.url}/action", data=body, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "expected" in response.json()["error"]
    assert kiosk.app.flow.revision == revision


def test_a_tap_over_4_kb_is_413(kiosk: KioskRig) -> None:
    revision = kiosk.app.flow.revision
    response = tap(kiosk, "start", {"pad": "x" * 5000})
    assert response.status_code == 413
    assert kiosk.app.flow.revision == revision


def test_an_oversize_chunked_tap_is_413(kiosk: KioskRig) -> None:
    revision = kiosk.app.flow.revision

    def chunks() -> Iterator[bytes]:
        yield b'{"action": "start", "args": {"pad": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}'

    response = requests.post(f"{kiosk.url}/action", data=chunks(), timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413
    assert kiosk.app.flow.revision == revision


def test_a_lying_content_length_does_not_reach_the_flow(kiosk: KioskRig) -> None:
    revision = kiosk.app.flow.revision
    body = json.dumps({"action": "start", "args": {"pad": "x" * 5000}}).encode()
    status, _ = raw_post(kiosk, "POST /action HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Type: application/json\r\nContent-Length: 20\r\n"
                                "Connection: close\r\n", body)
    assert status == 400  # the first 20 bytes are not a whole tap
    status, _ = raw_post(kiosk, "POST /action HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Type: application/json\r\nContent-Length: 99999\r\n"
                                "Connection: close\r\n", b'{"action": "start"}')
    assert status == 413  # refused on the header, before the body is read
    assert kiosk.app.flow.revision == revision
    assert kiosk.app.flow.state is KioskState.ATTRACT


def test_a_tap_from_another_origin_is_403(kiosk: KioskRig) -> None:
    response = tap(kiosk, "start", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert kiosk.app.flow.state is KioskState.ATTRACT
    same = tap(kiosk, "start", headers={"Origin": kiosk.url})
    assert same.status_code == 204


def test_screen_json_is_the_flows_snapshot(kiosk: KioskRig) -> None:
    tap(kiosk, "start")
    tap(kiosk, "dining", {"mode": "eat_in"})
    tap(kiosk, "open_item", {"id": "egg-tart"})
    tap(kiosk, "add_item", {"quantity": "2"})
    response = requests.get(f"{kiosk.url}/screen.json", timeout=10)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert response.json() == json.loads(json.dumps(kiosk.screen()))
    assert response.json()["cart"]["total_minor"] == 1500


def sse_messages(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Events (not the retry line or keep-alives) from a stream's lines."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(("event:", "data:", "id:")):
            key, _, value = line.partition(":")
            fields[key] = fields.get(key, "") + value.strip()
        elif not line and "event" in fields:
            yield fields
            fields = {}


def first_sse_message(rig: KioskRig) -> dict[str, str]:
    """The first event the page's stream sends."""
    with requests.get(f"{rig.url}/events", stream=True, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for message in sse_messages(response.iter_lines(decode_unicode=True)):
            return message
    raise AssertionError("the stream ended before its first event")


def test_a_tap_is_pushed_to_an_open_page(kiosk: KioskRig) -> None:
    with requests.get(f"{kiosk.url}/events", stream=True, timeout=10) as response:
        messages = sse_messages(response.iter_lines(decode_unicode=True))
        assert json.loads(next(messages)["data"])["state"] == "attract"
        assert tap(kiosk, "start").status_code == 204
        pushed = json.loads(next(messages)["data"])
        assert pushed["state"] == "dining" and pushed["revision"] == kiosk.app.flow.revision


def test_a_tap_of_exactly_4_kb_is_read(kiosk: KioskRig) -> None:
    head = b'{"action": "start", "args": {"pad": "'
    tail = b'"}}'
    body = head + b"x" * (4096 - len(head) - len(tail)) + tail
    assert len(body) == 4096
    response = requests.post(f"{kiosk.url}/action", data=body, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 204
    too_long = requests.post(f"{kiosk.url}/action", data=body + b" ", timeout=10,
                             headers={"Content-Type": "application/json"})
    assert too_long.status_code == 413


def test_events_sends_the_current_screen_first(kiosk: KioskRig) -> None:
    tap(kiosk, "start")
    tap(kiosk, "lang", {"lang": "en"})
    message = first_sse_message(kiosk)
    assert message["event"] == "screen"
    data = json.loads(message["data"])
    assert data["state"] == "dining" and data["lang"] == "en"
    assert data["revision"] == kiosk.app.flow.revision
    assert 'data-action="dining"' in data["html"]


def test_the_page_carries_the_current_screen(kiosk: KioskRig) -> None:
    response = requests.get(f"{kiosk.url}/", timeout=10)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert 'data-action="start"' in response.text
    assert "/static/kiosk.js" in response.text


def test_the_camera_preview_is_never_cached(kiosk: KioskRig) -> None:
    with requests.get(f"{kiosk.url}/camera.mjpg", stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["Pragma"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("path", "kind"), [
    ("/static/kiosk.js", "javascript"), ("/static/kiosk.css", "text/css"),
    ("/static/icons/smile.svg", "image/svg+xml"), ("/static/pictures/burger.svg", "image/svg"),
])
def test_static_files_are_served_locally(kiosk: KioskRig, path: str, kind: str) -> None:
    response = requests.get(f"{kiosk.url}{path}", timeout=10)
    assert response.status_code == 200 and kind in response.headers["Content-Type"]
    assert len(response.content) > 0


def test_a_missing_static_file_is_404(kiosk: KioskRig) -> None:
    assert requests.get(f"{kiosk.url}/static/../app.py", timeout=10).status_code == 404
    assert requests.get(f"{kiosk.url}/static/nope.js", timeout=10).status_code == 404


def page_in_both_languages(rig: KioskRig) -> None:
    """The page renders the current screen in Chinese and in English."""
    state = rig.app.flow.state.value
    for lang in ("en", "zh"):
        assert tap(rig, "lang", {"lang": lang}).status_code == 204
        response = requests.get(f"{rig.url}/", timeout=10)
        assert response.status_code == 200
        assert f'data-state="{state}"' in response.text, (state, lang)
        pushed = rig.app.broadcaster.latest("screen")
        assert pushed is not None and json.loads(pushed.data)["state"] == state


def test_every_screen_renders_in_both_languages(kiosk: KioskRig) -> None:
    flow = kiosk.app.flow
    page_in_both_languages(kiosk)
    for action, args in (("start", {}), ("dining", {"mode": "eat_in"}),
                         ("open_item", {"id": "family-bucket"}), ("add_item", {}),
                         ("toggle_option", {"group": "bucket-sides", "option": "corn"}),
                         ("toggle_option", {"group": "bucket-sides", "option": "fries"}),
                         ("add_item", {}), ("open_cart", {}), ("checkout", {}),
                         ("enroll", {}), ("enroll_step", {"step": "agree"}),
                         ("enroll_done", {}), ("pay", {"method": "face"})):
        assert tap(kiosk, action, args).status_code == 204, action
        page_in_both_languages(kiosk)
    tap(kiosk, "cancel_payment")
    tap(kiosk, "pay", {"method": "wallet"})
    kiosk.camera.show_code("not a payment code")
    deadline = time.monotonic() + 15
    while flow.state is KioskState.PAYING and time.monotonic() < deadline:
        time.sleep(0.02)  # the camera loop reads the code
    kiosk.camera.show_nothing()
    assert flow.state is KioskState.FAILED
    page_in_both_languages(kiosk)
    tap(kiosk, "pay", {"method": "qr"})
    page_in_both_languages(kiosk)
    kiosk.phone_pays_screen_qr()
    tap(kiosk, "cancel_payment")  # the last look finds it paid
    assert flow.state is KioskState.PAID
    page_in_both_languages(kiosk)
