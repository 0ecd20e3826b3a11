"""`scanpay person report|dispute|disputes`: a person's score report and their disputes.

The person proves who they are with a fresh payment code from their wallet app (``--code``),
which the back end uses up and trades for a 15-minute report token; nothing else identifies
them. With ``--emulator`` a reference back end is started for the command and its wallet
shows the code of ``--subject ID`` (its data lasts as long as ``[emulator].database`` says).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from typing import Any

from terminal.errors import TerminalError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `person` command."""
    parser = sub.add_parser(
        "person", help="a person's score report (why, events, data held) and disputes",
        description="See your score with its factors and the events behind each, restrictions "
        "with their origin, what the terminals hold about you and which decisions used your "
        "score; contest an event or a restriction.")
    inner = parser.add_subparsers(dest="person_command", metavar="ACTION",
                                  parser_class=type(parser))
    inner.required = True
    report = inner.add_parser("report", help="the report: score, range, factors, events, "
                              "restrictions, data held, decisions, disputes")
    _add_common(report)
    report.set_defaults(handler=_report)
    dispute = inner.add_parser("dispute", help="contest an event or a restriction")
    _add_common(dispute)
    item = dispute.add_mutually_exclusive_group(required=True)
    item.add_argument("--event", metavar="EVT", help="the id of the event you contest")
    item.add_argument("--restriction", metavar="ID", help="the id of the restriction")
    dispute.add_argument("--reason", required=True,
                         help="what is wrong, in your own words (1-2000 characters)")
    dispute.set_defaults(handler=_dispute)
    listing = inner.add_parser("disputes", help="your disputes and every step of each")
    _add_common(listing)
    listing.set_defaults(handler=_disputes)


def _add_common(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--code", metavar="CODE", help="a fresh payment code from your wallet app "
                     "(proves who you are; the back end uses it up)")
    who.add_argument("--subject", metavar="ID", help="with --emulator only: the emulator's "
                     "wallet shows this person's code")
    p.add_argument("--emulator", action="store_true",
                   help="start a reference back end for this command (on loopback; its "
                   "data lasts only as long as [emulator].database of --config says)")
    p.add_argument("--backend", metavar="URL",
                   help="score service base URL (default: [score_service] url of --config)")
    p.add_argument("--config", metavar="FILE", help="terminal configuration (default: the "
                   "embedded emulator defaults)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _report(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        person = _person(args, stack)
        report = person.report()
    if args.json:
        _dump(report.to_json())
    else:
        for line in report_lines(report):
            print(line)
    return 0


def _dispute(args: argparse.Namespace) -> int:
    kind, item = ("event", args.event) if args.event else ("restriction", args.restriction)
    with ExitStack() as stack:
        person = _person(args, stack)
        dispute = person.open_dispute(kind, item, args.reason)
    if args.json:
        _dump(dispute.to_json())
    else:
        print(f"dispute {dispute.dispute_id} opened on {kind} {item}: {dispute.status}")
        print("while it is under review the item does not count against you; "
              "'scanpay person disputes' shows each step")
    return 0


def _disputes(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        person = _person(args, stack)
        disputes = person.disputes()
    if args.json:
        _dump({"disputes": [d.to_json() for d in disputes]})
    else:
        if not disputes:
            print("no disputes")
        for d in disputes:
            print(f"{d.dispute_id}  {d.status:<13} {d.kind} {d.item_id}")
            for s in d.steps:
                note = f" — {s.note}" if s.note else ""
                print(f"    {_when(s.time)}  {s.status} by {s.actor or '-'}{note}")
    return 0


def report_lines(report: Any) -> list[str]:
    """The report as plain text lines."""
    lines = [f"score        {report.score} (range {report.range[0]}-{report.range[1]}; everyone "
             f"starts at {report.baseline}) as of {_when(report.as_of)}, from "
             f"{report.source or 'the score service'}"]
    lines.append("factors      " + ("none: nothing has moved the score" if not report.factors
                                    else ""))
    for f in report.factors:
        lines.append(f"  {f.points:+5d}  {f.text}  [{f.code}; {len(f.event_ids)} event(s)]")
    lines.append(f"events       {len(report.events)} that moved the score")
    for e in report.events:
        lines.append(f"  {_when(e.time)}  {e.id}  {e.type:<17} {e.points:+4d}  "
                     f"{e.terminal_id}  {e.status}")
    lines.append("restrictions " + ("none" if not report.restrictions else ""))
    for r in report.restrictions:
        origin = f" — origin: {r.origin.describe()}" if r.origin else ""
        lines.append(f"  {r.id or '-'}  {r.code}: {r.description}{origin}")
    td = report.terminal_data
    consent = (f"notice {td.consent.text_version}, given {_when(td.consent.given_at)}"
               if td.consent else "none")
    lines.append(f"data held    face enrolled: {'yes' if td.face_enrolled else 'no'}; consent: "
                 f"{consent}; kept until: {td.retention_until or '-'}"
                 + (f"; template deleted {_when(td.deleted_at)}" if td.deleted_at else ""))
    lines.append(f"decisions    {len(report.decisions)} used the score in the last 90 days")
    for d in report.decisions:
        lines.append(f"  {_when(d.time)}  {d.terminal_id}  {d.purpose or '-'}  score {d.score}")
    lines.append(f"deposits     {len(report.deposit_decisions)} decision(s) in the last 90 days")
    for d in report.deposit_decisions:
        lines.append(f"  {_when(d.time)}  {d.terminal_id}  {d.outcome}  "
                     f"reasons: {', '.join(d.reason_codes) or '-'}")
    lines.append(f"disputes     {len(report.disputes)}")
    for d in report.disputes:
        lines.append(f"  {d.dispute_id}  {d.status}  {d.kind} {d.item_id}")
    return lines


# -- helpers --------------------------------------------------------------------------------


def _person(args: argparse.Namespace, stack: ExitStack) -> Any:
    """A person client bound to a fresh session token."""
    from payments.clients.person import PersonClient

    settings, emulator = _score_settings(args, stack)
    client = stack.enter_context(PersonClient(settings))
    if args.code:
        code = str(args.code)
    elif emulator is None:
        raise TerminalError("--subject works only with --emulator; otherwise give a fresh "
                            "--code from your wallet app")
    else:
        from terminal.emulator.session import EmulatorError

        try:
            code = str(emulator.wallet_code(args.subject))
        except EmulatorError as exc:
            raise TerminalError(f"--subject {args.subject}: {exc}") from None
    session = client.open_session(code)
    return stack.enter_context(client.for_token(session.token))


def _score_settings(args: argparse.Namespace, stack: ExitStack) -> tuple[Any, Any]:
    from payments.clients.http import ServiceSettings
    from terminal.config import default_config_path, load_config

    config = load_config(args.config or default_config_path("emulator"))
    if args.emulator:
        if args.backend:
            raise TerminalError("--emulator starts its own back end; leave out --backend")
        emulator = start_emulator(config, stack)
        return emulator.endpoints().score, emulator
    if not (args.backend or config.score_service.url):
        raise TerminalError("no back end: give --backend URL, a --config whose "
                            "[score_service] url is set, or --emulator")
    try:
        # The person's calls carry their own token, never this terminal's key.
        base = ServiceSettings.from_section(config.score_service, url=args.backend)
    except ValueError as exc:
        raise TerminalError(f"--backend: {exc}") from None
    return base, None


def start_emulator(config: Any, stack: ExitStack) -> Any:
    """A reference back end on loopback for this command (temporary state)."""
    import tempfile
    from pathlib import Path

    from terminal.emulator.session import Emulator

    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="scanpay-person-"))
    return stack.enter_context(Emulator(config, state_dir=Path(tmp)))


def _when(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _dump(record: dict[str, Any]) -> None:
    json.dump(record, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
