"""`scanpay emulate`: the developer emulator as a web app, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import threading


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `emulate` command."""
    parser = sub.add_parser(
        "emulate", help="run the emulator as a web app: a device page and a dev panel",
        description="Start the reference back end on loopback, one emulated device (a bike-lock "
        "unit with its status page, or the ordering kiosk) and a dev panel in the browser, print "
        "the device page's URL and the panel's URL, and run until Ctrl-C or SIGTERM. The panel "
        "picks what the camera sees (a seeded person's phone showing a fresh payment code, a "
        "face clip, a customer with a clip's face who answers the kiosk's prompts, a "
        "printed-photo or phone-screen attack, an image file), opens and closes the bike lock, "
        "enrolls a seeded person's face for Smile to Pay, plays the customer's phone paying the "
        "kiosk's on-screen QR, takes the score service and the payment gateway offline and "
        "back, and shows the device's events live. Everything runs on this machine.")
    parser.add_argument("--device", choices=("bike", "kiosk"), default="bike",
                        help="which device to emulate (default: bike)")
    parser.add_argument("--port", type=_port, default=0, metavar="N",
                        help="serve the dev panel on port N (default: a free port); the device "
                        "page gets a free port of its own")
    parser.add_argument("--config", metavar="FILE",
                        help="emulator configuration (default: the embedded emulator defaults "
                        "for the device)")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object {"device_url", "panel_url"} on the first line')
    parser.add_argument("--mqtt", choices=("auto", "off"), default="auto",
                        help="auto (default): start mosquitto and the back end's fleet bridge "
                        "when mosquitto is installed and connect the device's fleet link "
                        "(heartbeats, alarms, events, remote commands); off: HTTPS only")
    parser.set_defaults(handler=_run)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {value}")
    return value


def _run(args: argparse.Namespace) -> int:
    from terminal.config import default_config_path, load_config
    from terminal.emulator.fleet import with_mqtt
    from terminal.emulator.site import EmulatorSite

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    config = with_mqtt(load_config(args.config or default_config_path(
        "emulator" if args.device == "bike" else "kiosk")), args.mqtt)
    with EmulatorSite(args.device, config=config, port=args.port) as site:
        if args.json:
            print(json.dumps({"device_url": site.device_url, "panel_url": site.panel_url}),
                  flush=True)
        else:
            print(f"device page  {site.device_url}", flush=True)
            print(f"dev panel    {site.panel_url}", flush=True)
            print("running; press Ctrl-C to stop", flush=True)
        stop.wait()
    if not args.json:
        print("stopped", flush=True)
    return 0
