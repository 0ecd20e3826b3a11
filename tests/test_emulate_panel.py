"""The dev panel over real HTTP: camera sources, the lock, the back-end switch, the event log,
and whole bike rides driven only through the panel's API while the real unit runs."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests

from terminal.emulator.panel.sources import Clip
from terminal.emulator.session import EmulatorError
from terminal.emulator.site import EmulatorSite

JSON = {"Accept": "application/json"}
WAIT_S = 60.0


def _write_clip(path: Path) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (64, 48))
    assert writer.isOpened()
    for value in (40, 200, 120):
        writer.write(np.full((48, 64, 3), value, np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import cv2

    root = tmp_path_factory.mktemp("media")
    still = root / "still.png"
    assert cv2.imwrite(str(still), np.full((48, 64, 3), 90, np.uint8))
    return {"clip": _write_clip(root / "face.avi"), "image": still}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         media: dict[str, Path]) -> Iterator[EmulatorSite]:
    clips = [Clip("test/face.avi", media["clip"])]
    with EmulatorSite("bike", state_dir=tmp_path_factory.mktemp("site"), clips=clips) as running:
        yield running


class Pushes:
    """Reads a page's server-sent events on a thread; waits for a condition after each push."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT_S)
        # HTTP/1.0: the stream is sent as is (no chunked encoding) until either side closes.
        self._sock.sendall(f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
        self._stream = self._sock.makefile("rb")
        status = self._stream.readline()
        assert b" 200 " in status, status
        while self._stream.readline().strip():
            pass  # headers
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for raw in self._stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    self._queue.put((name, "\n".join(data)))
                    name, data = "message", []
        except (OSError, ValueError):
            pass  # closed by the test

    def until(self, check: Callable[[], Any], what: str) -> Any:
        """Return ``check()`` once it is truthy, re-checking after every pushed event."""
        while not (result := check()):
            try:
                self._queue.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"no push within {WAIT_S:.0f} s waiting for {what}") \
                    from None
        return result

    def next(self, name: str) -> str:
        """The data of the next pushed event called ``name``."""
        while True:
            try:
                event, data = self._queue.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"no {name!r} event within {WAIT_S:.0f} s") from None
            if event == name:
                return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self._stream.close()
        self._sock.close()


def _post(url: str, **form: str) -> requests.Response:
    return requests.post(url, data=form, headers=JSON, timeout=30)


def _state(site: EmulatorSite) -> dict[str, Any]:
    return dict(requests.get(f"{site.panel_url}/api/state", timeout=10).json())


def _status(site: EmulatorSite) -> dict[str, Any]:
    return dict(requests.get(f"{site.device_url}/api/status", timeout=10).json())


def _ride(site: EmulatorSite, subject: str, pushes: Pushes) -> dict[str, Any]:
    """Show ``subject``'s fresh code through the panel and wait until the unit is done with it."""
    before = (_status(site)["last_ride"] or {}).get("ride_id")
    assert _post(f"{site.panel_url}/camera", source="code", subject=subject).json() == {
        "ok": True}

    def started() -> dict[str, Any] | None:
        status = _status(site)
        if status["state"] == "riding":
            return status
        last = status["last_ride"]
        return status if last and last["ride_id"] != before and status["state"] == "idle" \
            else None

    return dict(pushes.until(started, f"{subject}'s code to be read"))


@pytest.fixture
def device_pushes(site: EmulatorSite) -> Iterator[Pushes]:
    pushes = Pushes(f"{site.device_url}/events")
    yield pushes
    pushes.close()
    for link in site.links.values():
        link.set_online(True)


# -- the pages ---------------------------------------------------------------------------------


def test_the_panel_lists_the_people_the_clips_and_links_the_device_page(
        site: EmulatorSite) -> None:
    page = requests.get(site.panel_url, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["cache-control"] == "no-store"
    for subject in ("rider-good", "rider-low", "rider-blacklisted", "rider-broke"):
        assert f'value="{subject}"' in page.text
    assert 'value="test/face.avi"' in page.text
    assert f'href="{site.device_url}"' in page.text
    script = requests.get(f"{site.panel_url}/static/panel.js", timeout=10)
    assert script.status_code == 200 and "EventSource" in script.text
    device = requests.get(site.device_url, timeout=10)
    assert device.status_code == 200 and "Bike lock emu-bike-0001" in device.text


def test_the_panel_state_is_also_json(site: EmulatorSite) -> None:
    state = _state(site)
    assert state["device"] == "bike" and state["device_url"] == site.device_url
    assert state["subjects"] == ["rider-good", "rider-low", "rider-blacklisted", "rider-broke"]
    assert state["clips"] == ["test/face.avi"]
    assert state["links"] == {"score": True, "gateway": True}
    assert state["lock"]["latch"] == "closed"


# -- camera sources ----------------------------------------------------------------------------


def test_the_camera_source_is_switched_over_http(site: EmulatorSite,
                                                  media: dict[str, Path]) -> None:
    url = f"{site.panel_url}/camera"
    assert _post(url, source="clip", clip="test/face.avi").status_code == 200
    assert _state(site)["camera"]["kind"] == "clip"
    assert _post(url, source="photo", clip="test/face.avi").status_code == 200
    assert _state(site)["camera"]["label"] == "a printed photo of test/face.avi"
    assert _post(url, source="screen", path=str(media["clip"])).status_code == 200
    assert _state(site)["camera"]["kind"] == "screen"
    assert _post(url, source="image", path=str(media["image"])).status_code == 200
    assert _state(site)["camera"] == {"kind": "image", "label": "image still.png",
                                      "serial": _state(site)["camera"]["serial"]}
    assert _post(url, source="nothing").status_code == 200
    assert _state(site)["camera"]["kind"] == "nothing"


def test_a_bad_camera_choice_is_one_clear_error(site: EmulatorSite, tmp_path: Path) -> None:
    url = f"{site.panel_url}/camera"
    cases = [({"source": "hologram"}, "unknown camera source 'hologram'"),
             ({"source": "code", "subject": "nobody"}, "unknown person 'nobody'"),
             ({"source": "clip", "clip": "missing.mp4"}, "unknown clip 'missing.mp4'"),
             ({"source": "image", "path": str(tmp_path / "gone.png")}, "file not found"),
             ({"source": "image", "path": ""}, "give an image file")]
    for form, message in cases:
        answer = _post(url, **form)
        assert answer.status_code == 400, form
        assert message in answer.json()["error"]
    assert _state(site)["camera"]["kind"] == "nothing"


def test_the_panel_page_script_gets_refusals_as_answers_not_failures(
        site: EmulatorSite) -> None:
    answer = requests.post(f"{site.panel_url}/camera", data={"source": "hologram"},
                           headers={**JSON, "X-Panel-Page": "1"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["ok"] is False and "hologram" in answer.json()["error"]


def test_a_plain_form_post_returns_to_the_page_with_the_error(site: EmulatorSite) -> None:
    answer = requests.post(f"{site.panel_url}/camera", data={"source": "hologram"},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/?error=unknown%20camera%20source")
    page = requests.get(site.panel_url + answer.headers["location"], timeout=10)
    assert "unknown camera source &#39;hologram&#39;" in page.text


def test_json_bodies_are_accepted_too(site: EmulatorSite) -> None:
    answer = requests.post(f"{site.panel_url}/camera", json={"source": "nothing"}, timeout=10)
    assert answer.json() == {"ok": True}
    bad = requests.post(f"{site.panel_url}/camera", data=b"[1]",
                        headers={"Content-Type": "application/json"}, timeout=10)
    assert bad.status_code == 400 and "JSON object" in bad.json()["error"]


# -- lock and back end -------------------------------------------------------------------------


def test_the_lock_buttons_open_and_close_the_latch(site: EmulatorSite) -> None:
    url = f"{site.panel_url}/lock"
    assert _post(url, action="open").status_code == 200
    assert _state(site)["lock"]["latch"] == "open"
    assert _status(site)["latch"] == "open"
    assert _post(url, action="close").status_code == 200
    assert _state(site)["lock"]["latch"] == "closed"
    bad = _post(url, action="smash")
    assert bad.status_code == 400 and "open or close" in bad.json()["error"]


def test_services_go_offline_and_come_back(site: EmulatorSite) -> None:
    url = f"{site.panel_url}/link"
    score = site.links["score"]
    try:
        assert _post(url, service="score", online="0").status_code == 200
        assert _state(site)["links"] == {"score": False, "gateway": True}
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{score.url}/v1/health", timeout=5)
        assert _post(url, service="all", online="0").status_code == 200
        assert _state(site)["links"] == {"score": False, "gateway": False}
        assert _post(url, service="all", online="1").status_code == 200
        assert _state(site)["links"] == {"score": True, "gateway": True}
        assert requests.get(f"{score.url}/v1/health", timeout=5).status_code < 500
        bad = _post(url, service="weather", online="0")
        assert bad.status_code == 400 and "unknown service 'weather'" in bad.json()["error"]
        assert _post(url, service="score", online="maybe").status_code == 400
    finally:
        for link in site.links.values():
            link.set_online(True)


# -- whole rides -------------------------------------------------------------------------------


def test_a_whole_bike_ride_through_the_panel(site: EmulatorSite,
                                             device_pushes: Pushes) -> None:
    riding = _ride(site, "rider-good", device_pushes)
    assert riding["state"] == "riding" and riding["latch"] == "open"
    ride = riding["ride"]
    assert (ride["subject_id"], ride["score"], ride["decision"]) == ("rider-good", 780, "waived")
    assert _state(site)["camera"]["kind"] == "nothing"  # the rider put the phone away
    assert _post(f"{site.panel_url}/lock", action="close").json() == {"ok": True}
    done = device_pushes.until(lambda: (s := _status(site))["state"] == "idle" and s,
                               "the ride to settle")
    last = done["last_ride"]
    assert last["ride_id"] == ride["ride_id"] and last["state"] == "settled"
    assert (last["fare"], last["fare_paid_by"]) == ("1.50 CNY", "charge")
    assert (done["latch"], done["light"], done["beep"]) == ("closed", "idle", "ok")
    log = _state(site)["log"]
    ride_kinds = [e["kind"] for e in log[:12]]
    for kind in ("deposit.waived", "ride.started", "ride.ended", "payment.captured",
                 "settled"):
        assert kind in ride_kinds
    assert [e["seq"] for e in log] == sorted((e["seq"] for e in log), reverse=True)
    decided = next(e for e in log if e["kind"] == "deposit_decided")
    assert decided["reasons"] == ["on_time_returns"]  # the factor that helped the most
    waived = next(e for e in log if e["kind"] == "deposit.waived")
    assert waived["reasons"] == ["on_time_returns"]  # the event carries the same codes


def test_with_the_score_service_offline_the_offline_rule_applies(
        site: EmulatorSite, device_pushes: Pushes) -> None:
    assert _post(f"{site.panel_url}/link", service="score", online="0").status_code == 200
    riding = _ride(site, "rider-good", device_pushes)
    ride = riding["ride"]
    assert ride["score"] is None and ride["score_offline"] is True
    assert ride["decision"] == "required" and ride["deposit"] == "199.00 CNY"
    assert [r["code"] for r in ride["reasons"]] == ["score_service_offline"]
    decided = next(e for e in _state(site)["log"] if e["kind"] == "deposit_decided")
    assert decided["reasons"] == ["score_service_offline"]
    assert _post(f"{site.panel_url}/lock", action="close").status_code == 200
    done = device_pushes.until(lambda: (s := _status(site))["state"] == "idle" and s,
                               "the ride to settle")
    assert done["last_ride"]["fare_paid_by"] == "charge"  # the gateway stayed online


def test_a_declined_rider_keeps_the_lock_shut_and_the_reasons_show(
        site: EmulatorSite, device_pushes: Pushes) -> None:
    done = _ride(site, "rider-blacklisted", device_pushes)
    assert done["state"] == "idle" and done["latch"] == "closed"
    last = done["last_ride"]
    assert last["state"] == "declined" and "court_blacklist" in [r["code"] for r in
                                                                  last["reasons"]]
    page = requests.get(site.device_url, timeout=10).text
    assert "court_blacklist" in page


# -- the live log ------------------------------------------------------------------------------


def test_the_event_log_is_pushed_live_newest_first(site: EmulatorSite) -> None:
    pushes = Pushes(f"{site.panel_url}/events")
    try:
        pushes.next("log")  # the latest log is sent first on connecting
        site.log.add_screen("code_seen", "a test line <b>escaped</b>",
                            {"reasons": [{"code": "test_reason", "text": "t"}]})
        html = pushes.next("log")
        first_row = html.split("<tbody>")[1].split("</tr>")[0]
        assert "a test line &lt;b&gt;escaped&lt;/b&gt;" in first_row
        assert "test_reason" in first_row and "code_seen" in first_row
    finally:
        pushes.close()
    entry = _state(site)["log"][0]
    assert (entry["kind"], entry["reasons"], entry["source"]) == (
        "code_seen", ["test_reason"], "screen")
    assert json.dumps(entry)


def test_an_unknown_device_or_a_mismatched_configuration_is_refused() -> None:
    from terminal.config import default_config_path, load_config

    with pytest.raises(EmulatorError, match="unknown device 'toaster'"):
        EmulatorSite("toaster")  # type: ignore[arg-type]
    kiosk = load_config(default_config_path("kiosk"))
    with pytest.raises(EmulatorError, match="needs a bike-lock configuration"):
        EmulatorSite("bike", config=kiosk)


def test_with_the_gateway_offline_the_ride_fails_and_the_lock_stays_shut(
        site: EmulatorSite, device_pushes: Pushes) -> None:
    assert _post(f"{site.panel_url}/link", service="gateway", online="0").status_code == 200
    done = _ride(site, "rider-good", device_pushes)
    assert done["state"] == "idle" and done["latch"] == "closed"
    last = done["last_ride"]
    assert last["state"] == "failed" and last["fare"] is None and last["deposit"] is None
    assert done["light"] == "idle" and done["beep"] == "error"
