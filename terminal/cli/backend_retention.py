"""`scanpay backend retention run`: delete face templates unused for the retention period.

Run it from a timer (e.g. daily). Each deleted template leaves a tombstone with the date, which
the person's report shows; score reads older than 90 days go on the same run. ``--dry-run``
lists what would be deleted and deletes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from terminal.errors import ConfigError

STORE_ENV = "SCANPAY_BACKEND_STORE"


def register_retention(inner: argparse._SubParsersAction) -> None:
    """Add `backend retention run`."""
    retention = inner.add_parser("retention", help="delete face templates past their retention")
    actions = retention.add_subparsers(dest="retention_command", metavar="ACTION",
                                       parser_class=type(retention))
    actions.required = True
    run = actions.add_parser("run", help="delete templates unused for --days (a tombstone "
                             "with the date stays) and score reads older than 90 days")
    run.add_argument("--store", "--db", dest="store", default=None, metavar="URL",
                     help=f"the back end's store: a SQLite file or postgresql://... "
                          f"(default ${STORE_ENV})")
    run.add_argument("--days", type=int, default=None, metavar="N",
                     help="retention period since last use, in days (default: the back end's "
                          "face_retention_days, 1095 = three years)")
    run.add_argument("--dry-run", action="store_true",
                     help="list what would be deleted; delete nothing")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from backend.errors import BackendError
    from backend.retention import run as run_retention
    from backend.settings import BackendSettings
    from backend.store import describe_url, open_store

    url = args.store if args.store is not None else os.environ.get(STORE_ENV, "")
    if not url:
        raise ConfigError(f"name the back end's store: --store FILE|URL or ${STORE_ENV}")
    if "://" not in url and not os.path.isfile(url):
        raise ConfigError(f"no back-end database at {url}")
    days = args.days if args.days is not None else BackendSettings.face_retention_days
    if not 1 <= days <= 3650:
        raise ConfigError("--days must be 1..3650")
    print(f"retention: {describe_url(url)}, templates unused for {days} days"
          + (" (dry run)" if args.dry_run else ""), file=sys.stderr)
    store = open_store(url)
    try:
        with store.transaction() as conn:
            result = run_retention(conn, now=time.time(), retention_days=days,
                                   dry_run=args.dry_run)
    except BackendError as exc:
        raise ConfigError(f"retention failed: {exc}") from None
    except Exception as exc:  # a database without the back end's tables
        if "face_enrollments" in str(exc):
            raise ConfigError(f"{url} is not a ScanPay back-end database "
                              "(no face_enrollments table)") from None
        raise
    finally:
        store.close()
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    print(f"checked {result.checked} face template(s); {verb} {len(result.deleted)}")
    for item in result.to_json()["deleted"]:
        print(f"  {item['subject_id']}: last used {item['last_used_at']}")
    if not args.dry_run:
        print(f"deleted {result.score_reads_deleted} score read(s) older than 90 days")
    return 0
