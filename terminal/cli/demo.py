"""`scanpay demo`: a scripted rental on the emulator, printed as a transcript or JSON."""

from __future__ import annotations

import argparse
import json
import sys

RIDER_CHOICES = ("good", "low", "blacklisted", "broke")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` command."""
    parser = sub.add_parser(
        "demo",
        help="run a scripted bike rental (or kiosk orders) on the emulator",
        description="Start the reference back end on a loopback port, show the rider's payment "
        "code to a synthetic camera, and run one rental on an emulated lock: score, deposit "
        "decision with reasons, unlock, a simulated ride, fare, deposit release, event upload. "
        "With --device kiosk: consented enrollment from a recorded clip, then Smile to Pay "
        "with another clip of the same person, or a still photo held up as an attack.",
    )
    parser.add_argument("--device", choices=("bike", "kiosk"), default="bike",
                        help="bike: a bike rental (default); kiosk: two kiosk orders through "
                        "the kiosk's order flow, one paid by the screen's QR, one by Smile to "
                        "Pay (the face order needs a clip: --clip, or the EyeBlink8 clips "
                        "under $SCANPAY_SHARED; without one it is reported as skipped)")
    parser.add_argument("--pay", choices=("face", "qr"), default=None,
                        help="kiosk only: just one payment demo instead of the order session — "
                        "face: consented enrollment, then Smile to Pay; qr: the kiosk's dynamic "
                        "merchant QR, then a wallet payment code")
    parser.add_argument("--attack", choices=("none", "photo", "screen", "swap"), default=None,
                        help="kiosk --pay face only: hold up a still photo (print or phone "
                        "screen) instead; swap: the account holder's face first, then another "
                        "person answers the prompts (needs --customer scripted)")
    parser.add_argument("--customer", choices=("clip", "scripted"), default=None,
                        help="kiosk --pay face only: who answers the liveness prompt — clip: the "
                        "recording answers a fixed blink prompt (default); scripted: the kiosk's "
                        "real randomised challenge, answered by a scripted customer acting over "
                        "the recorded face")
    parser.add_argument("--story", choices=("dispute",), default=None,
                        help="dispute: rider-low is refused a deposit waiver because of "
                        "parking violations, contests the wrong one from the report behind the "
                        "decision screen's QR, an operator corrects it, the score is "
                        "recomputed and the next ride needs no deposit")
    parser.add_argument("--clip", metavar="VIDEO", help="kiosk: the paying person's clip")
    parser.add_argument("--rider", choices=RIDER_CHOICES, default=None,
                        help="bike only: seeded rider: good (score 780, default), low (640, "
                        "deposit held), blacklisted (declined), broke (good score, empty wallet)")
    parser.add_argument("--ride-minutes", type=_minutes, default=None, metavar="MIN",
                        help="bike only: length of the simulated ride (default 47)")
    parser.add_argument("--config", metavar="FILE",
                        help="emulator configuration (default: the embedded emulator defaults)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--mqtt", choices=("auto", "off"), default="auto",
                        help="bike: auto (default) starts mosquitto and the back end's fleet "
                        "bridge when mosquitto is installed and the unit sends its heartbeats "
                        "and events over MQTT (without it: HTTPS, said in one line); off: HTTPS")
    parser.set_defaults(handler=_run)


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not 0 <= value <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError("ride minutes must be between 0 and 10080")
    return value


def _refuse_flags(args: argparse.Namespace) -> None:
    """A flag that does not apply to the chosen device is an error, not silently ignored."""
    from terminal.errors import TerminalError

    if args.device == "bike":
        given = [flag for flag, value in (("--pay", args.pay), ("--attack", args.attack),
                                          ("--customer", args.customer), ("--clip", args.clip))
                 if value is not None]
        if given:
            raise TerminalError(f"{given[0]} applies to --device kiosk, not to a bike rental")
        return
    given = [flag for flag, value in (("--rider", args.rider),
                                      ("--ride-minutes", args.ride_minutes)) if value is not None]
    if given:
        raise TerminalError(f"{given[0]} applies to --device bike, not to the kiosk")
    if args.pay != "face":
        for flag, value in (("--attack", args.attack), ("--customer", args.customer)):
            if value is not None:
                raise TerminalError(f"{flag} applies to the Smile-to-Pay demo: add --pay face")


def _run(args: argparse.Namespace) -> int:
    if args.story is not None:
        return _run_story(args)
    _refuse_flags(args)
    if args.device == "kiosk":
        return _run_kiosk(args)
    from terminal.config import default_config_path, load_config
    from terminal.emulator.bike_demo import run_bike_demo

    rider = args.rider or "good"
    minutes = 47.0 if args.ride_minutes is None else args.ride_minutes
    from terminal.emulator.fleet import with_mqtt

    config = with_mqtt(load_config(args.config or default_config_path("emulator")), args.mqtt)
    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    if not args.json:
        print(f"ScanPay bike-lock demo — terminal {config.terminal.id}, rider '{rider}'")
    summary = run_bike_demo(config, rider=rider, ride_minutes=minutes, say=say)
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        fare = summary.get("fare", {})
        print(f"outcome      {summary['outcome']}; fare {fare.get('text', '-')}")
    return 0 if summary["outcome"] in ("completed", "declined") else 1


def _run_story(args: argparse.Namespace) -> int:
    from terminal.config import default_config_path, load_config
    from terminal.emulator.dispute_story import run_dispute_story
    from terminal.errors import TerminalError

    given = [flag for flag, value in (("--device", args.device if args.device != "bike"
                                       else None), ("--pay", args.pay),
                                      ("--attack", args.attack), ("--customer", args.customer),
                                      ("--clip", args.clip), ("--rider", args.rider),
                                      ("--ride-minutes", args.ride_minutes)) if value is not None]
    if given:
        raise TerminalError(f"{given[0]} does not apply to --story dispute (it runs rider-low "
                            "at a bike)")
    config = load_config(args.config or default_config_path("emulator"))
    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    if not args.json:
        print(f"ScanPay dispute story — terminal {config.terminal.id}, rider-low")
    summary = run_dispute_story(config, say=say)
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        before, after = summary["decision_before"], summary["decision_after"]
        print(f"outcome      score {summary['score_before']} -> {summary['score_after']}; "
              f"deposit {before['outcome']} -> {after['outcome']}")
    return 0 if not summary["decision_after"]["deposit_required"] else 1


def _run_kiosk(args: argparse.Namespace) -> int:
    from pathlib import Path

    from terminal.config import default_config_path, load_config

    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    if args.pay is None:
        from terminal.emulator.kiosk_order_demo import run_kiosk_order_demo

        config = load_config(args.config or default_config_path("kiosk"))
        if not args.json:
            print(f"ScanPay kiosk demo — terminal {config.terminal.id}: two orders through the "
                  "kiosk's order flow")
        summary = run_kiosk_order_demo(config, clip=Path(args.clip) if args.clip else None,
                                       say=say)
        if args.json:
            json.dump(summary, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            print(f"outcome      {summary['outcome']}")
        return 0 if summary["outcome"] == "completed" else 1
    if args.pay == "qr":
        from terminal.emulator.kiosk_qr_demo import run_kiosk_qr_demo

        config = load_config(args.config or default_config_path("kiosk"))
        summary = run_kiosk_qr_demo(config, say=say)
        if args.json:
            json.dump(summary, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        ok = (summary["merchant_qr"]["outcome"] == "paid" and summary["wallet_code"]
              and summary["wallet_code"]["outcome"] == "paid")
        return 0 if ok else 1
    from terminal.emulator.smile_demo import run_smile_demo

    config = load_config(args.config) if args.config else None
    attack, customer = args.attack or "none", args.customer or "clip"
    if not args.json:
        print(f"ScanPay Smile-to-Pay demo — customer: {customer}, attack: {attack}")
    summary = run_smile_demo(clip=Path(args.clip) if args.clip else None, attack=attack,
                             customer=customer, config=config, say=say)
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        print(f"outcome      {'paid' if summary['completed'] else 'not paid'}")
    # An attack that is stopped is the expected result.
    return 0 if summary["completed"] == (attack == "none") else 1
