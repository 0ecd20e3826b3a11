"""The bike unit's own status page: its state, light and buzzer, latch, last notice and ride."""

from __future__ import annotations

import threading
from typing import Any

from terminal.emulator.bike_device import BikeDevice
from terminal.emulator.panel.pages import html_response, render, static_files
from terminal.web.push import Broadcaster, sse_response


class BikePage:
    """Renders :meth:`BikeDevice.status`; :meth:`publish` pushes it to every open tab."""

    def __init__(self, device: BikeDevice) -> None:
        from payments.clients.person import PersonClient
        from terminal.kiosk.web.person import PersonPages
        from terminal.kiosk.web.texts import load_texts

        self.device = device
        # The rider's report page (/me/<token>), reached from the QR on the decision screen.
        self.person = PersonPages(PersonClient(device.endpoints.score), load_texts(),
                                  default_lang="en")
        self.broadcaster = Broadcaster()
        self._publishing = threading.Lock()  # an older status never lands after a newer one

    def publish(self) -> None:
        """Push the unit's current status."""
        with self._publishing:
            self.broadcaster.publish("unit", render("_unit.html", unit=self.device.status()))

    def app(self) -> Any:
        """The page's Starlette app."""
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, PlainTextResponse
        from starlette.routing import Mount, Route

        from terminal.kiosk.web.person import person_routes

        async def page(request: Any) -> Any:
            return html_response(render("bike.html", unit=self.device.status(),
                                        terminal_id=self.device.config.terminal.id))

        async def status(request: Any) -> Any:
            return JSONResponse(self.device.status(), headers={"Cache-Control": "no-store"})

        async def healthz(request: Any) -> Any:
            return PlainTextResponse("ok")

        async def events(request: Any) -> Any:
            return sse_response(self.broadcaster)

        return Starlette(routes=[
            Route("/", page),
            Route("/api/status", status),
            Route("/healthz", healthz),
            Route("/events", events),
            *person_routes(self.person),
            Mount("/static", app=static_files(), name="static"),
        ])

    def close(self) -> None:
        """End every open event stream and close the report page's client; safe to call
        twice."""
        self.broadcaster.close()
        self.person.close()
