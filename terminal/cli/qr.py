"""`scanpay qr parse|make`: read payment QR payloads, or build a kiosk's code as a PNG."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from terminal.errors import TerminalError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `qr` command."""
    parser = sub.add_parser("qr", help="parse payment QR payloads or make a kiosk QR code")
    inner = parser.add_subparsers(dest="qr_command", metavar="ACTION",
                                  parser_class=type(parser))
    inner.required = True

    parse = inner.add_parser(
        "parse", help="parse EMVCo MPM/CPM, UPI/wallet links and ScanPay app codes",
        description="Parse payment QR payloads. Exit status 0 when every payload is valid.")
    parse.add_argument("payload", metavar="PAYLOAD|-",
                       help="the QR text, or '-' to read one payload per line from stdin")
    parse.add_argument("--json", action="store_true",
                       help="one JSON object per payload: valid, scheme, tags, fields, "
                            "violations, error")
    parse.add_argument("--strict", action="store_true",
                       help="valid means fully conformant to the scheme's profile")
    parse.set_defaults(handler=_parse)

    make = inner.add_parser(
        "make", help="build a merchant-presented code (dynamic when --amount is given)",
        description="Build an EMVCo merchant-presented payload, print it, and optionally "
                    "write it as a PNG.")
    make.add_argument("--name", required=True, help="merchant name (59), at most 25 characters")
    make.add_argument("--city", required=True, help="merchant city (60), at most 15 characters")
    make.add_argument("--country", required=True, help="ISO 3166 alpha-2 country (58)")
    make.add_argument("--gui", required=True, help="acquirer GUI of the account template (26.00)")
    make.add_argument("--account", required=True, help="merchant account id (26.01)")
    make.add_argument("--mcc", default="5814", help="merchant category code (52), default 5814")
    make.add_argument("--currency", default="CNY", help="ISO 4217 currency, default CNY")
    make.add_argument("--amount", help="amount such as 12.50; makes a dynamic one-order code")
    make.add_argument("--reference", help="order reference (62.05), letters and digits")
    make.add_argument("--expires-in", type=int, default=300, metavar="SECONDS",
                      help="order lifetime for a dynamic code, default 300")
    make.add_argument("-o", "--output", metavar="PNG", help="write the QR code image here")
    make.set_defaults(handler=_make)


def _payloads(arg: str) -> list[str]:
    if arg != "-":
        return [arg]
    data = sys.stdin.buffer.read()
    text = data.decode("utf-8", errors="surrogateescape")
    lines = (line[:-1] if line.endswith("\r") else line for line in text.split("\n"))
    return [line for line in lines if line != ""]


def _describe(payload: str, strict: bool) -> dict[str, Any]:
    from payments.qr import QRPayloadError, parse_payload
    from payments.qr.model import error_json

    try:
        return parse_payload(payload).to_json(strict=strict)
    except QRPayloadError as exc:
        return error_json(exc)


def _print_text(result: dict[str, Any]) -> None:
    status = "valid" if result["valid"] else "invalid"
    scheme = result["scheme"] or "unknown"
    print(f"{status}: {scheme}")
    error = result["error"]
    if error is not None:
        where = " ".join(f"{k} {error[k]}" for k in ("tag", "offset") if error[k] is not None)
        print(f"  error: {error['layer']}/{error['code']}: {where + ': ' if where else ''}"
              f"{error['message']}")
    for name, value in result["fields"].items():
        print(f"  {name}: {value}")
    for v in result["violations"]:
        where = " ".join(f"{k} {v[k]}" for k in ("tag", "offset") if v[k] is not None)
        print(f"  violation: {v['layer']}/{v['code']}: {where + ': ' if where else ''}"
              f"{v['message']}")


def _parse(args: argparse.Namespace) -> int:
    all_valid = True
    for payload in _payloads(args.payload):
        result = _describe(payload, args.strict)
        all_valid = all_valid and result["valid"]
        if args.json:
            print(json.dumps(result, ensure_ascii=True))
        else:
            _print_text(result)
    return 0 if all_valid else 1


def _make(args: argparse.Namespace) -> int:
    from payments.qr.generate import (
        MerchantAccount,
        make_dynamic_mpm,
        make_static_mpm,
        parse_amount,
        write_png,
    )

    merchant = MerchantAccount(name=args.name, city=args.city, country=args.country,
                               gui=args.gui, account_id=args.account, mcc=args.mcc)
    if args.amount is None:
        if args.reference is not None:
            raise TerminalError("--reference needs --amount (a static code has no order)")
        payload = make_static_mpm(merchant, args.currency)
    else:
        if not args.reference:
            raise TerminalError("a dynamic code needs --reference")
        if args.expires_in < 1:
            raise TerminalError("--expires-in must be at least 1 second")
        amount = parse_amount(args.amount, args.currency)
        payload = make_dynamic_mpm(merchant, amount, args.reference,
                                   int(time.time()) + args.expires_in)
    print(payload)
    if args.output:
        out = write_png(payload, args.output)
        print(f"wrote {out}", file=sys.stderr)
    return 0
