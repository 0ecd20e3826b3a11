"""`scanpay bench crash --device kiosk`: kill a kiosk at random points of payments, check the books.

The reference back end runs in the parent on loopback; the kiosk (its order flow, payment
journal, order book and outbox, without face models) runs in a child process on one state
directory. Each life starts the kiosk — which settles whatever the last kill left in flight
before its first customer — then serves a few orders, paid with a wallet code shown to the
camera or with the screen's QR paid by a phone, and is SIGKILLed: after a random delay, or right
after the Nth outbox append, journal write, order-book settlement or gateway answer. A last,
clean life serves one more order and uploads everything. Then the back end's records are set
against the kiosk's:

- ``lost_events``: events the kiosk logged that the back end never got, and paid orders whose
  payment event (``payment.captured`` for a wallet code, ``order.paid`` for the screen QR) is
  missing;
- ``duplicate_events``: one payment event of an attempt stored more than once;
- ``double_charges``: an order paid more than once (charges and paid screen QRs together);
- ``orphan_holds``: money taken for an order the kiosk does not count as paid (the customer
  paid and got nothing), unless refunded;
- ``free_rides``: orders the kiosk counts as paid with no money at the gateway (a free meal);
- ``stuck_units``: restarts after which the kiosk could not serve the next customer.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from terminal.bench.crash import CrashReport, _after_nth, _ChildRunner, _rows, killed_life

log = logging.getLogger(__name__)

KEY_ENV = "SCANPAY_BENCH_CRASH_KIOSK_KEY"
CUSTOMERS = ("crash-diner-a", "crash-diner-b", "crash-diner-c")
# Instrumented kill points and the range of N ("kill right after the Nth ...").
KILL_POINTS: dict[str, tuple[int, int]] = {
    "append": (1, 6),  # outbox append
    "journal": (1, 8),  # payment journal write (sent or settled)
    "money": (1, 6),  # gateway answer received (a charge, a QR withdrawn or found paid)
    "order": (1, 4),  # order book settlement (paid, failed, voided)
}
PAY_TIMEOUT_S = 20.0
PAYMENT_EVENTS = ("payment.captured", "order.paid")


def run_kiosk_crash_bench(
    cycles: int,
    *,
    seed: int,
    work_dir: Path,
    orders_per_life: int = 3,
    progress: Callable[[int], None] | None = None,
    faults: bool = False,
    fault_rate: float = 0.15,
) -> tuple[CrashReport, dict[str, Any]]:
    """Run ``cycles`` killed lives of a kiosk and one clean one; returns the checks' report."""
    from contextlib import ExitStack

    import requests

    from terminal.bench.fault_proxy import FaultProxy
    from terminal.config import default_config_path, load_config
    from terminal.emulator.session import Emulator

    rng = random.Random(seed)
    kiosk_dir = work_dir / "kiosk"
    kiosk_dir.mkdir(parents=True, exist_ok=True)
    stuck = timed = 0
    points: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    with ExitStack() as stack:
        config = load_config(default_config_path("kiosk"))
        emulator = stack.enter_context(Emulator(config, state_dir=work_dir))
        url, key = emulator.server.url, emulator.api_key
        terminal_id = config.terminal.id
        for customer in CUSTOMERS:
            response = requests.post(
                f"{url}/v1/dev/subjects", timeout=10,
                headers={"Authorization": f"Bearer {key}"},
                json={"subject_id": customer, "balance_minor": 10**9})
            if response.status_code not in (201, 409):
                raise RuntimeError(f"cannot create {customer}: HTTP {response.status_code}")
        proxy = None
        if faults:
            proxy = stack.enter_context(FaultProxy(url, fault_rate=fault_rate,
                                                   seed=rng.randrange(2**31), hold_s=3.5))
        child = _KioskChild(proxy.url if proxy else url, url, key, kiosk_dir, orders_per_life)
        for cycle in range(1, cycles + 1):
            ok, was_timed = killed_life(child, cycle, rng, KILL_POINTS, 1.5, points, reached)
            timed += was_timed
            stuck += not ok
            if progress is not None:
                progress(cycle)
        injected = dict(proxy.injected) if proxy else {}
        if proxy is not None:
            proxy.heal()
        final = child.final(cycles + 1, seed=rng.randrange(2**31))
        stuck += not final.get("served", False)
        stuck += sum(not life.get("ready", False) for life in child.lives())
        report, extra = check_kiosk_books(work_dir / "backend.sqlite3", kiosk_dir, terminal_id,
                                          cycles, stuck)
    extra.update(kills_timed=timed, kills_at_points=sum(points.values()),
                 points_hit=dict(points), points_reached=dict(reached), final=final,
                 faults_injected=injected)
    return report, extra


class _KioskChild(_ChildRunner):
    """Starts lives of the kiosk in child processes (killed, hung and final as a unit's)."""

    def __init__(self, url: str, wallet_url: str, key: str, kiosk_dir: Path,
                 orders: int) -> None:
        super().__init__(url, key, kiosk_dir, orders, wallet_url=wallet_url)

    def _command(self, life: int, seed: int, extra: list[str]) -> list[str]:
        return [sys.executable, "-m", "terminal.bench.crash_kiosk", "--url", self._url,
                "--wallet-url", self._wallet_url, "--state-dir", str(self._dir),
                "--life", str(life), "--seed", str(seed), "--orders", str(self._rentals),
                *extra]

    def _env(self) -> dict[str, str]:
        return {**os.environ, KEY_ENV: self._key}


def check_kiosk_books(backend_db: Path, kiosk_dir: Path, terminal_id: str, cycles: int,
                      stuck: int) -> tuple[CrashReport, dict[str, Any]]:
    """Set the kiosk's order book and outbox against the back end's money and events."""
    from terminal.kiosk.payment_journal import order_of

    kiosk_db = kiosk_dir / "kiosk.sqlite3"
    orders = {row[0]: row for row in _rows(
        kiosk_db, "SELECT order_id, status, paid_with, charge_id, refund_id FROM kiosk_orders")}
    outbox_ids = {row[0] for row in _rows(kiosk_dir / "outbox.sqlite3",
                                          "SELECT event_id FROM outbox")}
    events = _rows(backend_db, "SELECT event_id, type, attributes FROM events "
                   "WHERE terminal_id = ?", (terminal_id,))
    stored_ids = {row[0] for row in events}
    per_attempt: Counter[tuple[str, str]] = Counter()
    for _, kind, attributes in events:
        if kind in PAYMENT_EVENTS:
            per_attempt[(str(json.loads(attributes).get("order_id")), kind)] += 1
    duplicates = sum(n - 1 for n in per_attempt.values() if n > 1)
    refunded = {row[0] for row in _rows(backend_db, "SELECT charge_id FROM refunds "
                                        "WHERE terminal_id = ?", (terminal_id,))}
    money: Counter[str] = Counter()
    for charge_id, reference in _rows(backend_db, "SELECT charge_id, reference FROM charges "
                                      "WHERE terminal_id = ?", (terminal_id,)):
        if charge_id not in refunded:
            money[order_of(reference)] += 1
    for (reference,) in _rows(backend_db, "SELECT reference FROM orders WHERE terminal_id = ? "
                              "AND paid_at IS NOT NULL", (terminal_id,)):
        money[order_of(reference)] += 1
    double = sum(n - 1 for n in money.values() if n > 1)
    paid = {oid for oid, row in orders.items() if row[1] == "paid"}
    free_meals = sum(1 for oid in paid if money[oid] == 0)
    orphans = sum(1 for oid, n in money.items() if n and oid not in paid)
    lost = len(outbox_ids - stored_ids)
    paid_events = {order_of(attempt) for attempt, _ in per_attempt}
    lost += sum(1 for oid in paid if oid not in paid_events)
    report = CrashReport(cycles=cycles, lost_events=lost, duplicate_events=duplicates,
                         double_charges=double, orphan_holds=orphans, free_rides=free_meals,
                         stuck_units=stuck)
    extra = {"orders": len(orders), "paid_orders": len(paid),
             "states": dict(Counter(row[1] for row in orders.values())),
             "paid_with": dict(Counter(str(orders[oid][2]) for oid in paid)),
             "events_stored": len(stored_ids), "events_logged": len(outbox_ids)}
    return report, extra


# -- the child: one life of the kiosk ------------------------------------------------------------


def _arm(kill_at: str) -> None:
    """Install the instrumented kill point ``kind:N`` on the kiosk's classes."""
    if not kill_at:
        return
    from payments.clients.gateway import GatewayClient
    from payments.clients.orders import OrderClient
    from payments.outbox import Outbox
    from terminal.kiosk.orders import OrderBook
    from terminal.kiosk.payment_journal import PaymentJournal

    kind, _, n_text = kill_at.partition(":")
    n = int(n_text)
    if kind == "append":
        Outbox.append = _after_nth(Outbox.append, n)  # type: ignore[method-assign]
    elif kind == "order":
        OrderBook.settle = _after_nth(OrderBook.settle, n)  # type: ignore[method-assign]
    elif kind == "journal":
        count = [0]
        for name in ("sent", "settled"):
            setattr(PaymentJournal, name, _counting(getattr(PaymentJournal, name), count, n))
    elif kind == "money":
        count = [0]
        GatewayClient.charge = _counting(GatewayClient.charge, count, n)  # type: ignore[method-assign]
        for name in ("get_order", "cancel_order"):
            setattr(OrderClient, name, _counting(getattr(OrderClient, name), count, n))
    else:
        raise ValueError(f"unknown kill point {kill_at!r}")


def _counting(call: Callable[..., Any], count: list[int], n: int) -> Callable[..., Any]:
    """``call``, but the process dies right after the ``n``th return of any call sharing
    ``count``."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return wrapped


def _child(argv: list[str]) -> int:
    """One life of the kiosk: start (settling what was in flight), serve orders, be killed."""
    from dataclasses import replace

    import requests

    from hardware.emulated.switchable_camera import SwitchableCamera
    from payments.clients.http import ServiceSettings
    from terminal.config import default_config_path, load_config
    from terminal.config.schema import KioskSection
    from terminal.endpoints import Endpoints
    from terminal.kiosk.app import KioskApp
    from terminal.kiosk.order_states import KioskState

    parser = argparse.ArgumentParser(prog="crash-kiosk-child")
    parser.add_argument("--url", required=True)
    parser.add_argument("--wallet-url", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--life", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--orders", type=int, default=3)
    parser.add_argument("--kill-at", default="")
    parser.add_argument("--final", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    key = os.environ[KEY_ENV]
    rng = random.Random(args.seed)
    config = load_config(default_config_path("kiosk"))
    kiosk = replace(config.kiosk or KioskSection(), port=0, qr_poll_s=0.1)
    config = replace(config, kiosk=kiosk, face=None)
    service = ServiceSettings(url=args.url, api_key=key, connect_timeout_s=1.0,
                              read_timeout_s=3.0, max_retries=2, backoff_base_s=0.05,
                              backoff_max_s=0.2, deadline_s=5.0)
    session = requests.Session()
    session.trust_env = False
    headers = {"Authorization": f"Bearer {key}"}
    _arm(args.kill_at)
    camera = SwitchableCamera(size=(640, 480), fps=15.0)
    app = KioskApp(config, Endpoints(service, service), state_dir=args.state_dir,
                   camera=camera, port=0, preload_face=False)
    with app:
        flow = app.flow
        left = len(app.journal.in_flight())
        with open(args.state_dir / "lives.jsonl", "a") as fh:
            fh.write(json.dumps({"life": args.life, "in_flight": left,
                                 "ready": flow.state is KioskState.ATTRACT}) + "\n")
        print("ready", flush=True)

        def wait(predicate: Callable[[], bool]) -> bool:
            limit = time.monotonic() + PAY_TIMEOUT_S
            while not predicate():
                if time.monotonic() > limit:
                    return False
                time.sleep(0.02)
            return True

        def serve_one() -> bool:
            """One customer orders and pays; True when the order ends paid."""
            flow.act("start")
            flow.act("dining", {"mode": "eat_in"})
            flow.act("open_item", {"id": rng.choice(("egg-tart", "crunch-burger-meal"))})
            flow.act("add_item", {"quantity": "1"})
            flow.act("open_cart")
            flow.act("checkout")
            method = rng.choice(("wallet", "qr"))
            flow.act("pay", {"method": method})
            if flow.state is not KioskState.PAYING:
                return False
            if method == "wallet":
                code = session.post(f"{args.wallet_url}/v1/dev/payment-codes", timeout=10,
                                    headers=headers, json={"subject_id": rng.choice(CUSTOMERS),
                                                           "ttl_s": 60}).json()["code"]
                camera.show_code(code, label="wallet code")
            else:
                order = flow.snapshot()["order"]["order_id"]
                attempt = flow.visit.attempt
                wait(lambda: (flow.snapshot().get("pay") or {}).get("qr_svg") is not None)
                session.post(f"{args.wallet_url}/v1/dev/orders/{order}P{attempt}/pay",
                             headers=headers, timeout=10)
            wait(lambda: flow.state is not KioskState.PAYING)
            camera.show_nothing()
            paid = flow.state is KioskState.PAID
            if paid:
                flow.act("finish")
            elif flow.state is not KioskState.ATTRACT:
                flow.act("cancel")
            return paid

        for _ in range(args.orders):
            serve_one()
        if not args.final:
            app.uploader.flush(deadline_s=5.0)
            return 0
        wait(lambda: not app.journal.in_flight())
        served = serve_one()
        flushed = app.uploader.flush(deadline_s=30.0)
        print(json.dumps({"served": served, "in_flight": len(app.journal.in_flight()),
                          "outbox_pending": flushed.pending}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
