"""Links to the person's report page for the QR on a decision screen.

After a decision about a person, the terminal asks the back end for a report-link token
(``POST /v1/person/report-links``, with the terminal's key: it served this person) on a
thread of its own, so the decision is never held up by it; the screen shows the QR once the
token is there. The link is ``<page base>/me/<token>``: the terminal's own web page, which
reads the report from the back end with the token when the person's phone opens it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from payments.clients.errors import ApiError, BadArgument
from payments.clients.person import PersonClient

log = logging.getLogger(__name__)
# Decisions remembered (a screen shows the last one or two).
MAX_KEPT = 16


@dataclass(frozen=True)
class ReportLink:
    """The page's address and its QR (inline SVG)."""

    url: str
    qr_svg: str


class ReportLinks:
    """Report links per decision (``key``: a ride id, an order id), fetched in the background."""

    def __init__(self, client: PersonClient, *, base_url: str = "",
                 on_ready: Callable[[], None] = lambda: None) -> None:
        self._client = client
        self.base_url = base_url
        self._on_ready = on_ready
        self._lock = threading.Lock()
        self._links: dict[str, ReportLink | None] = {}
        self._threads: list[threading.Thread] = []

    def request(self, key: str, subject_id: str) -> None:
        """Fetch a link for ``subject_id``'s decision ``key`` (once per key)."""
        with self._lock:
            if key in self._links or not self.base_url:
                return
            self._links[key] = None
            while len(self._links) > MAX_KEPT:
                self._links.pop(next(iter(self._links)))
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._fetch, args=(key, subject_id),
                                      name="scanpay-report-link", daemon=True)
            self._threads.append(thread)
        thread.start()

    def get(self, key: str | None) -> ReportLink | None:
        """The link of decision ``key`` once fetched."""
        if key is None:
            return None
        with self._lock:
            return self._links.get(key)

    def wait(self, timeout: float = 5.0) -> None:
        """Wait for the fetches under way (tests, a closing terminal)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def close(self) -> None:
        """Wait briefly for fetches under way, then close the client."""
        self.wait(2.0)
        self._client.close()

    def _fetch(self, key: str, subject_id: str) -> None:
        from terminal.kiosk.qr_pay import qr_svg

        try:
            link = self._client.report_link(subject_id)
        except (ApiError, BadArgument) as exc:
            log.info("no report link for decision %s: %s", key, exc)
            return
        url = f"{self.base_url.rstrip('/')}/me/{link.token}"
        made = ReportLink(url, qr_svg(url, label="QR code: your score report and why"))
        with self._lock:
            if key in self._links:
                self._links[key] = made
        try:
            self._on_ready()
        except Exception:  # a page that cannot refresh must not stop anything
            log.exception("report link listener failed")
