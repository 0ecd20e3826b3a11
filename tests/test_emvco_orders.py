"""The kiosk's dynamic-QR orders and app-code replay, against the real back end on loopback."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import requests

from backend.server import BackendServer
from backend.settings import BackendSettings
from payments.clients import (
    CodeRejected,
    ConflictError,
    GatewayClient,
    NotFoundError,
    ServiceSettings,
    new_idempotency_key,
)
from payments.clients.orders import OrderClient, wait_for_order
from payments.money import Money
from payments.paycode import PaymentCodeError, ReplayGuard, check_locally, parse_code
from payments.qr import parse_payload

KIOSK = "emu-kiosk-0001"
T0 = 1_795_000_000.0


class Clock:
    """A settable clock shared by the back end and the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def backend_clock() -> Clock:
    return Clock(T0)


@pytest.fixture(scope="module")
def server(backend_clock: Clock, backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=backend_clock)) as running:
        yield running


@pytest.fixture
def orders(server: BackendServer) -> Iterator[OrderClient]:
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for(KIOSK))
    with OrderClient(settings, sleep=lambda s: None, rng=random.Random(1)) as client:
        yield client


def _dev(server: BackendServer, path: str, body: dict | None = None,
         terminal: str = KIOSK) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body or {}, timeout=5,
                         headers={"Authorization": f"Bearer {server.api_key_for(terminal)}"})


def _ref() -> str:
    return f"ORD{random.randrange(10**9)}"


def test_an_order_returns_a_dynamic_qr_that_parses_back(orders: OrderClient) -> None:
    ref = _ref()
    order = orders.create_order(Money(2350, "CNY"), ref, new_idempotency_key(), expires_in_s=120)
    assert order.status == "pending" and order.reference == ref
    parsed = parse_payload(order.qr_payload)
    assert parsed.conformant and parsed.tags["01"] == "12"
    assert parsed.fields["amount"] == "23.50" and parsed.fields["currency"] == "CNY"
    assert parsed.fields["reference"] == ref
    assert parsed.fields["expires_at"] == order.expires_at


def test_paying_an_order_ends_the_wait_as_paid(orders: OrderClient,
                                               server: BackendServer) -> None:
    ref = _ref()
    orders.create_order(Money(990, "CNY"), ref, new_idempotency_key())
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        if len(sleeps) == 3:  # the customer pays while the kiosk is polling
            assert _dev(server, f"/v1/dev/orders/{ref}/pay").status_code == 200

    order = wait_for_order(orders, ref, clock=lambda: now[0], sleep=sleep,
                           deadline_s=60, interval_s=1.5)
    assert order.status == "paid" and order.paid_at is not None
    assert sleeps == [1.5, 1.5, 1.5]


def test_waiting_gives_up_at_the_deadline_with_the_pending_order(orders: OrderClient) -> None:
    ref = _ref()
    orders.create_order(Money(990, "CNY"), ref, new_idempotency_key())
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    order = wait_for_order(orders, ref, clock=lambda: now[0], sleep=sleep, deadline_s=5,
                           interval_s=2)
    assert order.status == "pending"
    assert sleeps == [2, 2, 1]


def test_an_order_expires_and_cannot_be_paid_late(orders: OrderClient, server: BackendServer,
                                                  backend_clock: Clock) -> None:
    ref = _ref()
    orders.create_order(Money(990, "CNY"), ref, new_idempotency_key(), expires_in_s=30)
    backend_clock.now += 31
    try:
        assert orders.get_order(ref).status == "expired"
        response = _dev(server, f"/v1/dev/orders/{ref}/pay")
        assert response.status_code == 410
        assert response.json()["error"]["code"] == "order_expired"
    finally:
        backend_clock.now -= 31


def test_an_order_is_paid_once(orders: OrderClient, server: BackendServer) -> None:
    ref = _ref()
    orders.create_order(Money(990, "CNY"), ref, new_idempotency_key())
    assert _dev(server, f"/v1/dev/orders/{ref}/pay").status_code == 200
    second = _dev(server, f"/v1/dev/orders/{ref}/pay")
    assert (second.status_code, second.json()["error"]["code"]) == (409, "order_already_paid")


def test_a_reference_is_used_once_but_a_retry_replays(orders: OrderClient) -> None:
    ref, key = _ref(), new_idempotency_key()
    first = orders.create_order(Money(990, "CNY"), ref, key)
    assert orders.create_order(Money(990, "CNY"), ref, key) == first
    with pytest.raises(ConflictError) as info:
        orders.create_order(Money(990, "CNY"), ref, new_idempotency_key())
    assert info.value.code == "order_exists"


def test_orders_racing_for_one_reference_give_one_order_and_conflicts_never_a_500(
        server: BackendServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ref = _ref()
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for(KIOSK), max_retries=0)

    def create(_: int) -> str:
        with OrderClient(settings, sleep=lambda s: None) as client:
            try:
                client.create_order(Money(990, "CNY"), ref, new_idempotency_key())
            except ConflictError as exc:
                return exc.code
        return "created"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(create, range(8)))
    assert outcomes == ["created"] + ["order_exists"] * 7


def test_orders_are_private_to_their_terminal(orders: OrderClient, server: BackendServer) -> None:
    ref = _ref()
    orders.create_order(Money(990, "CNY"), ref, new_idempotency_key())
    assert _dev(server, f"/v1/dev/orders/{ref}/pay", terminal="emu-kiosk-0002").status_code == 404
    with pytest.raises(NotFoundError):
        orders.get_order("NOSUCHORDER")


def test_a_bad_order_request_is_a_clear_400(server: BackendServer) -> None:
    response = requests.post(
        f"{server.url}/v1/orders", timeout=5,
        json={"amount": {"amount_minor": 100, "currency": "XTS"}, "reference": "R1"},
        headers={"Authorization": f"Bearer {server.api_key_for(KIOSK)}",
                 "Idempotency-Key": new_idempotency_key()})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_money"


def test_a_captured_app_code_cannot_be_replayed(server: BackendServer,
                                                backend_clock: Clock) -> None:
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for("emu-bike-0001"))
    text = _dev(server, "/v1/dev/payment-codes", {"subject_id": "rider-good", "ttl_s": 60},
                terminal="emu-bike-0001").json()["code"]
    sent: list[str] = []
    session = requests.Session()
    session.trust_env = False
    session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request.path_url))
    guard = ReplayGuard(100, clock=backend_clock)
    with GatewayClient(settings, session=session, sleep=lambda s: None) as gateway:
        # First scan: checked locally, then resolved once by the gateway.
        assert parse_payload(text).scheme == "scanpay-app"
        code = parse_code(text)
        check_locally(code, now=backend_clock())
        guard.check_and_remember(code)
        assert gateway.resolve_code(text, new_idempotency_key()).subject_id == "rider-good"
        assert sent == ["/v1/payment-codes/resolve"]
        # The same code shown again at this terminal never reaches the network.
        with pytest.raises(PaymentCodeError) as local:
            guard.check_and_remember(parse_code(text))
        assert local.value.code == "code_already_used" and len(sent) == 1
        # Replayed at another terminal (no local memory), the gateway refuses it.
        with pytest.raises(CodeRejected) as remote:
            gateway.resolve_code(text, new_idempotency_key())
        assert (remote.value.code, remote.value.http_status) == ("code_already_used", 409)
    session.close()
    # And once expired, the terminal refuses it locally without asking anyone.
    with pytest.raises(PaymentCodeError) as expired:
        check_locally(code, now=backend_clock() + 120)
    assert expired.value.code == "code_expired"
