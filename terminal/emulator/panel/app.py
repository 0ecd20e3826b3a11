"""The dev panel: pick what the camera sees, work the bike lock, cut the back end, watch events.

Every control is an HTML form that also works without JavaScript; the page's few lines of
script send them in the background and swap in the live regions the server pushes (server-sent
events). Every page is also JSON: ``GET /api/state``; the actions answer JSON when asked.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from hardware.errors import HardwareError
from payments.errors import PaymentsError
from terminal.emulator.bike_device import BikeDevice
from terminal.emulator.link import Link
from terminal.emulator.panel.eventlog import EventLog
from terminal.emulator.panel.pages import html_response, render, static_files
from terminal.emulator.panel.sources import CameraDesk, SourceError
from terminal.errors import TerminalError
from terminal.web.push import Broadcaster, sse_response

log = logging.getLogger(__name__)

LINK_TITLES = {"score": "score service", "gateway": "payment gateway"}
REGIONS = ("camera", "lock", "links", "log")


class PanelError(SourceError):
    """A panel action that cannot be done (bad field, no lock on this device)."""


class Panel:
    """The panel's state and actions; :meth:`app` serves it, :meth:`publish` pushes a region."""

    def __init__(self, *, device_kind: str, device_url: str, desk: CameraDesk, log: EventLog,
                 links: Mapping[str, Link], bike: BikeDevice | None = None,
                 phone: Callable[[], str] | None = None,
                 enroll: Callable[[str, Path], str] | None = None,
                 phone_digits: str = "", device_name: str = "") -> None:
        self.device_kind = device_kind
        self.device_name = device_name or {"bike": "bike lock", "kiosk": "kiosk"}.get(
            device_kind, device_kind)
        self.device_url = device_url
        self.desk = desk
        self.log = log
        self.links = dict(links)
        self.bike = bike
        self._phone = phone
        self._enroll = enroll
        self._phone_digits = phone_digits  # the last four digits of enrolled phone numbers
        self.broadcaster = Broadcaster()
        # Render and push one region at a time, so an older render never lands after a newer.
        self._publishing = threading.Lock()

    # -- state --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the panel shows, as JSON."""
        view = self.desk.camera.view
        return {
            "device": self.device_kind,
            "device_url": self.device_url,
            "camera": {"kind": view.kind, "label": view.label, "serial": view.serial},
            "lock": self._lock_state(),
            "links": {name: link.online for name, link in self.links.items()},
            "subjects": [s["subject_id"] for s in self.desk.subjects],
            "clips": [c.name for c in self.desk.clips],
            "log": [entry.to_dict() for entry in self.log.entries()],
        }

    def _lock_state(self) -> dict[str, Any] | None:
        if self.bike is None:
            return None
        status = self.bike.status()
        return {"latch": status["latch"], "ride": status["ride"],
                "battery": status.get("battery"), "position": status.get("position"),
                "in_service": status.get("in_service", False), "fleet": status.get("fleet")}

    def _context(self) -> dict[str, Any]:
        view = self.desk.camera.view
        return {
            "camera": {"kind": view.kind, "label": view.label},
            "lock": self._lock_state(),
            "links": [{"name": name, "title": LINK_TITLES.get(name, name), "online": link.online}
                      for name, link in self.links.items()],
            "log": self.log.entries(),
        }

    def render_region(self, region: str) -> str:
        """The HTML of one live region of the page."""
        return render(f"_{region}.html", **self._context())

    def publish(self, region: str) -> None:
        """Push ``region``'s new HTML to every open panel."""
        if region == "lock" and self.bike is None:
            return
        with self._publishing:
            self.broadcaster.publish(region, self.render_region(region))

    def publish_all(self) -> None:
        """Push every region (after start, and whenever in doubt)."""
        for region in REGIONS:
            self.publish(region)

    # -- actions (worker threads) ---------------------------------------------------------------

    def camera(self, form: Mapping[str, str]) -> None:
        """Switch the camera as the form says."""
        self.desk.apply(form)

    def lock(self, form: Mapping[str, str]) -> None:
        """Open or close the bike lock."""
        if self.bike is None:
            raise PanelError(f"the {self.device_name} has no lock")
        action = form.get("action", "")
        if action == "close":
            self.bike.close_latch()
        elif action == "open":
            self.bike.open_latch()
        elif action == "battery":
            self.bike.set_battery(_percent(form.get("percent", "")))
        else:
            raise PanelError(f"lock action must be open or close (or battery with a percent), "
                             f"got {action!r}")

    def phone(self, form: Mapping[str, str]) -> None:
        """The customer's phone scans the QR the device shows and pays it."""
        if self._phone is None:
            raise PanelError(f"the {self.device_name} shows no payment QR to scan")
        reference = self._phone()
        log.info("the phone paid order %s", reference)

    def enroll(self, form: Mapping[str, str]) -> None:
        """Enroll a seeded person's face from a clip, with recorded consent (a past visit)."""
        if self._enroll is None:
            raise PanelError(f"the {self.device_name} has no Smile to Pay")
        subject = self.desk.subject((form.get("subject") or "").strip())
        self._enroll(subject, self.desk.media(form, "a face clip"))

    def link(self, form: Mapping[str, str]) -> None:
        """Take a back-end service (or all of them) offline or bring it back."""
        service, online = form.get("service", ""), form.get("online", "")
        if online not in ("0", "1", "true", "false"):
            raise PanelError(f"online must be 1 or 0, got {online!r}")
        if service != "all" and service not in self.links:
            raise PanelError(f"unknown service {service!r} (choose from all, "
                             f"{', '.join(self.links)})")
        targets = self.links.values() if service == "all" else [self.links[service]]
        for target in targets:
            target.set_online(online in ("1", "true"))

    # -- the web app ------------------------------------------------------------------------------

    def app(self) -> Any:
        """The panel's Starlette app."""
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, PlainTextResponse
        from starlette.routing import Mount, Route

        async def page(request: Any) -> Any:
            return html_response(render(
                "panel.html", device=self.device_kind, device_name=self.device_name,
                device_url=self.device_url, subjects=self.desk.subjects, clips=self.desk.clips,
                has_lock=self.bike is not None, has_phone=self._phone is not None,
                has_faces=self._enroll is not None, phone_digits=self._phone_digits,
                link_titles=[(n, LINK_TITLES.get(n, n)) for n in self.links],
                error=request.query_params.get("error", ""), **self._context()))

        async def state(request: Any) -> Any:
            return JSONResponse(self.state(), headers={"Cache-Control": "no-store"})

        async def healthz(request: Any) -> Any:
            return PlainTextResponse("ok")

        async def events(request: Any) -> Any:
            return sse_response(self.broadcaster)

        routes = [
            Route("/", page),
            Route("/api/state", state),
            Route("/healthz", healthz),
            Route("/events", events),
            Route("/camera", _action(self.camera), methods=["POST"]),
            Route("/lock", _action(self.lock), methods=["POST"]),
            Route("/link", _action(self.link), methods=["POST"]),
            Route("/phone", _action(self.phone), methods=["POST"]),
            Route("/enroll", _action(self.enroll), methods=["POST"]),
            Mount("/static", app=static_files(), name="static"),
        ]
        return Starlette(routes=routes)

    def close(self) -> None:
        """End every open event stream; safe to call twice."""
        self.broadcaster.close()


def _percent(text: str) -> float:
    """A battery charge typed in the panel: a number 0..100."""
    try:
        value = float(text)
    except ValueError:
        raise PanelError(f"battery must be a number of percent (0-100), got {text!r}") from None
    if not 0 <= value <= 100:
        raise PanelError(f"battery must be between 0 and 100 percent, got {text!r}")
    return value


def _action(handler: Callable[[Mapping[str, str]], None]) -> Any:
    """A POST endpoint running ``handler(form)`` on a worker thread.

    JSON callers (``Accept: application/json`` or a JSON body) get ``{"ok": true}`` or
    ``{"ok": false, "error": "..."}`` with status 400 — 200 for the panel page's own script
    (``X-Panel-Page: 1``), which shows the error itself; a browser would also log a 400 as a
    failed resource. A plain form post is sent back to the page (with ``?error=``).
    """
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, RedirectResponse

    async def endpoint(request: Any) -> Any:
        body = await request.body()
        is_json = request.headers.get("content-type", "").startswith("application/json")
        wants_json = is_json or "application/json" in request.headers.get("accept", "")
        try:
            form = _parse(body, is_json)
            await run_in_threadpool(handler, form)
        except (TerminalError, HardwareError, PaymentsError) as exc:
            log.info("panel action refused: %s", exc)
            if wants_json:
                status = 200 if request.headers.get("x-panel-page") == "1" else 400
                return JSONResponse({"ok": False, "error": str(exc)}, status_code=status)
            return RedirectResponse(f"/?error={quote(str(exc))}", status_code=303)
        if wants_json:
            return JSONResponse({"ok": True})
        return RedirectResponse("/", status_code=303)

    return endpoint


def _parse(body: bytes, is_json: bool) -> dict[str, str]:
    if is_json:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise PanelError("the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise PanelError("the request body must be a JSON object")
        return {str(k): "" if v is None else _text(v) for k, v in data.items()}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
