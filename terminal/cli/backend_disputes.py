"""`scanpay backend disputes list|decide|audit`: the operator's review of people's disputes.

Calls the back end's HTTP API with an operator key (``--api-key`` or ``SCANPAY_API_KEY``;
in development, ``scanpay backend keys dev-key --terminal ops-operator-1`` prints one). A
decision is sent with an idempotency key, so a retry after a lost answer decides once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from terminal.errors import TerminalError

API_KEY_ENV = "SCANPAY_API_KEY"


def register_disputes(inner: argparse._SubParsersAction) -> None:
    """Add `backend disputes`."""
    disputes = inner.add_parser("disputes", help="review people's disputes (operator key)")
    actions = disputes.add_subparsers(dest="disputes_command", metavar="ACTION",
                                      parser_class=type(disputes))
    actions.required = True
    listing = actions.add_parser("list", help="disputes, oldest first")
    listing.add_argument("--status", choices=("under_review", "upheld", "corrected"),
                         help="only disputes with this status")
    _add_connection(listing)
    listing.set_defaults(handler=_list)
    decide = actions.add_parser("decide", help="uphold the record or correct it (a correction "
                                "recomputes the score and lifts what depended on it)")
    decide.add_argument("dispute_id", metavar="DISPUTE", help="dsp_...")
    decide.add_argument("--outcome", required=True, choices=("upheld", "corrected"))
    decide.add_argument("--note", required=True,
                        help="why, in plain words: the person sees it (1-2000 characters)")
    _add_connection(decide)
    decide.set_defaults(handler=_decide)
    audit = actions.add_parser("audit", help="a dispute's audit trail and its verification")
    audit.add_argument("dispute_id", metavar="DISPUTE", help="dsp_...")
    _add_connection(audit)
    audit.set_defaults(handler=_audit)


def _add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", required=True, metavar="URL", help="back end base URL")
    p.add_argument("--api-key", metavar="KEY",
                   help=f"an operator's API key (default ${API_KEY_ENV})")
    p.add_argument("--json", action="store_true", help="print JSON")


def _client(args: argparse.Namespace) -> Any:
    from payments.clients.http import ServiceSettings
    from payments.clients.person import DisputeReviewClient

    key = args.api_key or os.environ.get(API_KEY_ENV, "")
    if not key:
        raise TerminalError(f"an operator key is needed: --api-key KEY or ${API_KEY_ENV}")
    try:
        settings = ServiceSettings(url=args.backend, api_key=key)
    except ValueError as exc:
        raise TerminalError(f"--backend: {exc}") from None
    return DisputeReviewClient(settings)


def _list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        disputes = client.list(args.status)
    if args.json:
        _dump({"disputes": [d.to_json() for d in disputes]})
        return 0
    if not disputes:
        print("no disputes" + (f" {args.status}" if args.status else ""))
    for d in disputes:
        opened = d.opened_at.strftime("%Y-%m-%d %H:%M") if d.opened_at else "-"
        print(f"{d.dispute_id}  {d.status:<13} {opened}  {d.subject_id}  {d.kind} {d.item_id}")
        print(f"    reason: {d.reason}")
    return 0


def _decide(args: argparse.Namespace) -> int:
    with _client(args) as client:
        dispute = client.decide(args.dispute_id, args.outcome, args.note)
    if args.json:
        _dump(dispute.to_json())
    else:
        print(f"{dispute.dispute_id}: {dispute.status} ({dispute.kind} {dispute.item_id} of "
              f"{dispute.subject_id}); the person sees this step with your note")
    return 0


def _audit(args: argparse.Namespace) -> int:
    with _client(args) as client:
        rows = client.audit(args.dispute_id)
    if args.json:
        _dump({"dispute_id": args.dispute_id, "rows": [r.raw for r in rows]})
        return 0
    for r in rows:
        when = r.time.strftime("%Y-%m-%d %H:%M:%S") if r.time else "-"
        print(f"{r.seq:>4}  {when}  {r.action:<14} {r.actor:<28} {r.hash[:16]}")
    return 0


def _dump(record: dict[str, Any]) -> None:
    json.dump(record, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
