"""Doctor checks of the back end: reachable, this terminal's key accepted, clocks agree."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from terminal.config.schema import Config, ServiceSection
from terminal.doctor.result import CheckResult, failed, passed
from terminal.doctor.system import MAX_SKEW_S

HEALTH_PATH = "/v1/health"
# A read-only route every terminal role may call: answers 401 to a wrong key.
AUTH_PATH = "/v1/payment-codes/keys"


def check_backend(config: Config, wall_clock: Callable[[], float]) -> list[CheckResult]:
    """Reachability and authentication of the score service and the gateway, and clock skew."""
    if config.emulator is not None and config.emulator.enabled:
        return [passed("back end", "emulated on loopback ([emulator] enabled): not checked")]
    import requests

    results: list[CheckResult] = []
    skew_checked = False
    with requests.Session() as session:
        for label, section in (("score service", config.score_service),
                               ("gateway", config.gateway)):
            reach, server_time = _reach(session, label, section, wall_clock)
            results.append(reach)
            if not reach.ok:
                continue
            if server_time is not None and not skew_checked:
                results.append(_skew(label, server_time))
                skew_checked = True
            results.append(_auth(session, label, section))
    return results


def _timeout(section: ServiceSection) -> tuple[float, float]:
    return section.connect_timeout_s, section.read_timeout_s


def _reach(session: Any, label: str, section: ServiceSection, wall_clock: Callable[[], float]
           ) -> tuple[CheckResult, tuple[float, float] | None]:
    """(result, (server time, our time at the middle of the exchange)) of GET /v1/health."""
    import requests

    key = "score_service" if label == "score service" else "gateway"
    url = section.url.rstrip("/") + HEALTH_PATH
    sent = wall_clock()
    try:
        response = session.get(url, timeout=_timeout(section))
    except requests.RequestException as exc:
        return failed(label, f"{section.url} unreachable: {_short(exc)}",
                      f"check the network, DNS and {key}.url; is the service up?"), None
    received = wall_clock()
    if response.status_code != 200:
        return failed(label, f"{url} answered HTTP {response.status_code}",
                      f"check {key}.url points at the ScanPay API"), None
    server = _server_time(response)
    elapsed_ms = response.elapsed.total_seconds() * 1000
    result = passed(label, f"{section.url} reachable ({elapsed_ms:.0f} ms)")
    return result, None if server is None else (server, (sent + received) / 2)


def _server_time(response: Any) -> float | None:
    try:
        body = response.json()
        text = body.get("time") if isinstance(body, dict) else None
        if isinstance(text, str):
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    header = response.headers.get("Date")
    if header:
        try:
            return parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError):
            return None
    return None


def _skew(label: str, times: tuple[float, float]) -> CheckResult:
    server, ours = times
    skew = ours - server
    if not math.isfinite(skew):
        return failed("clock skew", "cannot compare clocks", "check the system clock")
    ahead = "ahead of" if skew > 0 else "behind"
    detail = f"this unit's clock is {abs(skew):.1f} s {ahead} the {label}'s"
    if abs(skew) > MAX_SKEW_S:
        return failed("clock skew", detail, "payment codes expire in 60 s: enable time sync "
                      "(sudo timedatectl set-ntp true) and check timedatectl status")
    return passed("clock skew", detail)


def _auth(session: Any, label: str, section: ServiceSection) -> CheckResult:
    import requests

    key = "score_service" if label == "score service" else "gateway"
    name = f"{label} key"
    if not section.api_key:
        return failed(name, "no API key configured", f"set {key}.api_key to this terminal's key")
    url = section.url.rstrip("/") + AUTH_PATH
    try:
        response = session.get(url, timeout=_timeout(section),
                               headers={"Authorization": f"Bearer {section.api_key}"})
    except requests.RequestException as exc:
        return failed(name, f"{url} unreachable: {_short(exc)}", "check the network")
    status = response.status_code
    if status == 200:
        return passed(name, "the key is accepted")
    if status == 401:
        return failed(name, "the key is refused (401 unauthenticated)",
                      f"set {key}.api_key to the key issued for this terminal "
                      "(scanpay backend keys on the back end)")
    if status == 403:
        return failed(name, "the key is valid but its role may not use this terminal's routes "
                      "(403)", "issue a key with this terminal's role (bike_lock or kiosk)")
    return failed(name, f"{url} answered HTTP {status}", f"check {key}.url")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
