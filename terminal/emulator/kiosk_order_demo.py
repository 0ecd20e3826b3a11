"""A scripted customer session through the kiosk's real order flow, on the emulator.

The same :class:`~terminal.kiosk.app.KioskApp` and state machine the touch screen drives run
here against the reference back end on loopback; the script taps what a customer would tap
(``flow.act``, exactly what the page sends). Two orders: one paid by the kiosk's dynamic QR
(the customer's phone pays it), one paid by Smile to Pay — the demo customer is enrolled with
consent first, then a recorded clip of them stands in front of the camera while the emulator's
scripted customer answers the kiosk's randomised prompts and types the last phone digits on
the keypad. Without a face clip (``--clip``, or the shared EyeBlink8 clips) the face order is
reported as skipped, with the reason.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from hardware.emulated.switchable_camera import SwitchableCamera
from payments.clients.face import FaceClient
from terminal.config.schema import Config, FaceSection
from terminal.emulator.session import Emulator
from terminal.errors import TerminalError
from terminal.kiosk.app import KioskApp
from terminal.kiosk.flow import KioskFlow

DEMO_SUBJECT = "rider-good"
WAIT_S = 60.0


class KioskDemoError(TerminalError):
    """The kiosk demo could not finish a step."""


def run_kiosk_order_demo(config: Config, *, clip: Path | None = None,
                         say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run the two orders; returns ``{"outcome", "orders": [...]}`` plus details."""
    from terminal.emulator.smile_demo import (
        DEMO_PHONE,
        ENROLL_CLIP,
        PAY_CLIP,
        enroll_demo_customer,
        shared_faces_dir,
    )

    pay_clip = clip if clip is not None else shared_faces_dir() / PAY_CLIP
    enroll_clip = pay_clip if clip is not None else shared_faces_dir() / ENROLL_CLIP
    face_ready = config.face is not None and pay_clip.is_file() and enroll_clip.is_file()
    if not face_ready:
        config = replace(config, face=None)  # nothing to show the camera: no face payment
    orders: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="scanpay-kiosk-demo-") as tmp, \
            Emulator(config, state_dir=Path(tmp)) as emulator:
        say(f"back end     reference payment gateway at {emulator.server.url}")
        camera = SwitchableCamera(size=(config.camera.width, config.camera.height),
                                  fps=config.camera.fps)
        factory = _acting_sensor if face_ready else None
        with KioskApp(config, emulator.endpoints(), state_dir=Path(tmp) / "kiosk",
                      camera=camera, port=0, sensor_factory=factory) as app:
            say(f"screen       kiosk page at {app.url}/ (the same flow these taps drive)")
            flow = app.flow
            orders.append(_qr_order(flow, emulator, say))
            if face_ready:
                assert config.face is not None
                with FaceClient(emulator.endpoints().gateway) as faces:
                    enrolled = enroll_demo_customer(
                        config, config.face, faces, enroll_clip, say,
                        payment_code=emulator.wallet_code(DEMO_SUBJECT))
                if enrolled["enrolled"]:
                    camera.show_clip(pay_clip, label="the demo customer")
                    orders.append(_face_order(flow, DEMO_PHONE, say))
                else:
                    orders.append(_skipped("face", "the demo customer could not be enrolled: "
                                           f"{enrolled['reason']}"))
            else:
                why = ("no face clip: pass --clip or set SCANPAY_SHARED to the shared data"
                       if config.face is None or not pay_clip.is_file()
                       else "face payments are not configured")
                say(f"face         skipped ({why})")
                orders.append(_skipped("face", why))
            app.uploader.flush(deadline_s=5.0)
            counts = app.outbox.counts()
    attempted = [o for o in orders if o["outcome"] != "skipped"]
    outcome = "completed" if attempted and all(o["outcome"] == "paid" for o in attempted) \
        else "failed"
    say(f"events       {counts.pending + counts.delivered} logged durably, "
        f"{counts.delivered} uploaded to the score service")
    return {"outcome": outcome, "orders": orders,
            "events_logged": counts.pending + counts.delivered + counts.dropped,
            "events_uploaded": counts.delivered}


def _acting_sensor(face: FaceSection, clock: Callable[[], float]) -> Any:
    from terminal.emulator.customer import ActingSensor, ScriptedCustomer
    from terminal.kiosk.face_sensor import VisionFaceSensor

    return ActingSensor(VisionFaceSensor(face, clock=clock, rng=random.Random(7)),
                        ScriptedCustomer(rng=random.Random(8)))


def _order_a_meal(flow: KioskFlow, say: Callable[[str], None], *, dining: str) -> None:
    """Tap through attract → dining → menu: a meal with its default choices, and a drink."""
    catalogue = flow.catalogue
    meal = next(i for i in catalogue.items if i.combo and flow.is_available(i)
                and all(g.max == 1 for g in catalogue.groups_of(i)))
    flow.act("lang", {"lang": "en"})  # the transcript is read in English
    flow.act("start")
    flow.act("dining", {"mode": dining})
    flow.act("category", {"id": meal.category})
    flow.act("open_item", {"id": meal.id})
    flow.act("add_item")
    drink = next((i for i in catalogue.items if not i.combo and flow.is_available(i)
                  and not any(g.required for g in catalogue.groups_of(i))), None)
    if drink is not None:
        flow.act("category", {"id": drink.category})
        flow.act("open_item", {"id": drink.id})
        flow.act("add_item")
    flow.act("open_cart")
    cart = flow.snapshot()["cart"]
    say(f"cart         {'; '.join(line['text'] for line in cart['lines'])} — "
        f"total {cart['total_text']} (tax {cart['tax_text']})")
    flow.act("checkout")


def _qr_order(flow: KioskFlow, emulator: Emulator, say: Callable[[str], None]) -> dict[str, Any]:
    _order_a_meal(flow, say, dining="take_out")
    flow.act("pay", {"method": "qr"})
    screen = flow.snapshot()
    if screen["state"] != "paying":
        return _result(flow, "qr")
    reference = f"{screen['order']['order_id']}P{flow.visit.attempt}"
    say(f"screen       order {screen['order']['number']}: dynamic QR for "
        f"{screen['order']['total_text']}")
    say("phone        the customer scans the code on the screen and pays")
    response = requests.post(f"{emulator.server.url}/v1/dev/orders/{reference}/pay",
                             headers={"Authorization": f"Bearer {emulator.api_key}"}, timeout=5)
    if response.status_code >= 300:
        raise KioskDemoError(f"the emulated phone could not pay: {response.status_code} "
                             f"{response.text[:200]}")
    _wait(flow, lambda s: s["state"] != "paying")
    return _result(flow, "qr", say)


def _face_order(flow: KioskFlow, phone: str, say: Callable[[str], None]) -> dict[str, Any]:
    _order_a_meal(flow, say, dining="eat_in")
    flow.act("pay", {"method": "face"})
    say("camera       the customer looks at the kiosk (recorded face, scripted reactions)")
    shown: list[str] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        screen = flow.snapshot()
        if screen["state"] != "paying":
            break
        pay = screen["pay"]
        if pay["prompt"] and (not shown or shown[-1] != pay["prompt"]):
            shown.append(pay["prompt"])
            say(f"screen       {pay['prompt']}")
        if pay["stage"] == "digits":
            typed = phone[-4:] if pay["digits_asked"] == "last4" else phone
            say(f"keypad       customer types {len(typed)} digits")
            for digit in typed:
                flow.act("key", {"digit": digit})
            flow.act("submit_digits")
            continue
        threading.Event().wait(0.05)
    return _result(flow, "face", say)


def _result(flow: KioskFlow, method: str, say: Callable[[str], None] | None = None
            ) -> dict[str, Any]:
    screen = flow.snapshot()
    order = screen.get("order") or {}
    if screen["state"] == "paid":
        outcome, reasons = "paid", [f"paid_with_{method}"]
        if say is not None:
            say(f"paid         order {order.get('number')}: {order.get('total_text')} "
                f"({method}); receipt QR on screen")
        flow.act("finish")
    else:
        failure = (screen.get("failure") or {}).get("reasons") or []
        outcome, reasons = "failed", [r["code"] for r in failure] or [screen["state"]]
        if say is not None:
            say(f"failed       {'; '.join(r['text'] for r in failure) or screen['state']}")
        if screen["state"] != "attract":
            flow.act("cancel")
    return {"order_id": order.get("order_id"), "number": order.get("number"),
            "total_minor": order.get("total_minor"), "currency": order.get("currency"),
            "paid_with": method, "outcome": outcome, "reasons": reasons}


def _skipped(method: str, why: str) -> dict[str, Any]:
    return {"order_id": None, "number": None, "total_minor": None, "currency": None,
            "paid_with": method, "outcome": "skipped", "reasons": [why]}


def _wait(flow: KioskFlow, done: Callable[[dict[str, Any]], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    wake = threading.Event()
    while time.monotonic() < deadline:
        if done(flow.snapshot()):
            return
        wake.wait(0.05)
    raise KioskDemoError(f"the kiosk did not finish the payment within {WAIT_S:.0f} s")
