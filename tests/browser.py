"""Real-browser test helpers: Debian's Chromium driven by Playwright, axe-core, screenshots.

The fixtures (``browser``, ``page_factory``) are registered in ``tests/conftest.py``. Playwright
only ever launches the system Chromium through ``executable_path``; it never downloads a browser
(``playwright install`` is not part of the set-up). Every page records console errors and
uncaught page errors, and the test fails at teardown when one occurred, unless the page was
opened with ``allow_console_errors=True``. Artefacts (screenshots, axe reports, traces with
``SCANPAY_TRACE=1``) go to ``test-artifacts/`` or ``$SCANPAY_ARTIFACTS``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Response

REPO_ROOT = Path(__file__).resolve().parents[1]
Layout = Literal["landscape", "portrait"]
LAYOUTS: dict[str, dict[str, int]] = {
    "portrait": {"width": 1080, "height": 1920},
    "landscape": {"width": 1280, "height": 800},
}
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")
AXE_FAILING_IMPACTS = ("serious", "critical")
# No page under test may reach beyond loopback: every other host name fails to resolve, which
# shows up as a console error (and fails the test) if the kiosk ever loads an asset from outside.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--font-render-hinting=none",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
)
CHROMIUM_PATHS = (Path("/usr/bin/chromium"),)
DEFAULT_TIMEOUT_MS = 20_000  # for every Playwright wait; generous for 2 busy cores
_SCREEN_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class BrowserHarnessError(RuntimeError):
    """The browser test harness cannot run (missing Chromium, bad argument)."""


def chromium_executable() -> str:
    """Return the path of the system Chromium (Debian's ``chromium`` package)."""
    for candidate in CHROMIUM_PATHS:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("chromium")
    if found:
        return found
    raise BrowserHarnessError(
        "Chromium not found (no /usr/bin/chromium, no 'chromium' on PATH): run "
        "scripts/setup.sh --dev, which installs Debian's chromium package"
    )


def artifacts_dir() -> Path:
    """Return the folder for test artefacts (``SCANPAY_ARTIFACTS`` or ``test-artifacts/``)."""
    configured = os.environ.get("SCANPAY_ARTIFACTS")
    return Path(configured) if configured else REPO_ROOT / "test-artifacts"


def _check_screen_name(screen_name: str) -> None:
    if not _SCREEN_NAME.match(screen_name):
        raise BrowserHarnessError(
            f"screen name {screen_name!r} must be lower-case letters, digits, '.', '_' or '-'"
        )


def _check_layout(layout: str) -> dict[str, int]:
    if layout not in LAYOUTS:
        raise BrowserHarnessError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    return LAYOUTS[layout]


@dataclass(frozen=True)
class SeenResponse:
    """One HTTP response a page received, with what decides whether the browser may cache it."""

    url: str
    status: int
    content_type: str
    cache_control: str

    @property
    def may_be_cached(self) -> bool:
        """Say whether the browser may keep this response (no ``no-store`` in Cache-Control)."""
        return self.url.startswith("http") and "no-store" not in self.cache_control.lower()


class PageFactory:
    """Opens pages in fresh browser contexts and keeps the console errors each one logged."""

    def __init__(self, browser: Browser, *, trace_name: str | None = None) -> None:
        self._browser = browser
        self._trace_name = trace_name
        self._contexts: list[BrowserContext] = []
        self._pages: list[Page] = []
        self._errors: dict[int, list[str]] = {}
        self._responses: dict[int, list[SeenResponse]] = {}
        self._allowed: set[int] = set()
        self._labels: dict[int, str] = {}
        self._closed = False

    def __call__(
        self,
        layout: Layout = "landscape",
        locale: str = "en-US",
        *,
        allow_console_errors: bool = False,
    ) -> Page:
        """Open a touch-screen page at the layout's viewport in a new context."""
        viewport = _check_layout(layout)
        if self._closed:
            raise BrowserHarnessError("the page factory is closed")
        context = self._browser.new_context(
            viewport=viewport,
            screen=viewport,
            device_scale_factor=1,
            has_touch=True,
            is_mobile=False,
            locale=locale,
            service_workers="block",
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        if self._trace_name:
            context.tracing.start(screenshots=True, snapshots=True)
        self._contexts.append(context)
        page = context.new_page()
        key = id(page)
        errors: list[str] = []
        self._errors[key] = errors
        self._labels[key] = f"{layout} {locale} page #{len(self._contexts)}"
        if allow_console_errors:
            self._allowed.add(key)

        def on_console(message: ConsoleMessage) -> None:
            where = message.location.get("url") or ""
            # Chromium asks for /favicon.ico by itself, at a time of its choosing: not the page's.
            if message.type == "error" and not where.endswith("/favicon.ico"):
                errors.append(f"console.error: {message.text}" + (f" ({where})" if where else ""))

        def on_page_error(error: Error) -> None:
            errors.append(f"uncaught {error.name or 'error'}: {error.message}")

        seen: list[SeenResponse] = []
        self._responses[key] = seen

        def on_response(response: Response) -> None:
            headers = response.headers
            kind, cache = headers.get("content-type", ""), headers.get("cache-control", "")
            seen.append(SeenResponse(response.url, response.status, kind, cache))

        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        page.on("crash", lambda _: errors.append("the page crashed"))
        self._pages.append(page)
        return page

    def console_errors(self, page: Page) -> list[str]:
        """Return the console errors and uncaught page errors ``page`` has logged so far."""
        return list(self._errors.get(id(page), []))

    def responses(self, page: Page) -> list[SeenResponse]:
        """Return the HTTP responses ``page`` has received so far, in order."""
        return list(self._responses.get(id(page), []))

    def settle(self) -> None:
        """Let open pages run their due timers and deliver console messages still on the way."""
        from playwright.sync_api import Error

        for page in self._pages:
            # A page that closed, crashed or is navigating has nothing more to flush.
            with contextlib.suppress(Error):
                if not page.is_closed():
                    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")

    def unexpected_errors(self) -> list[str]:
        """Return every recorded error from pages that did not allow them, labelled by page."""
        return [
            f"{self._labels[key]}: {message}"
            for key, messages in self._errors.items()
            if key not in self._allowed
            for message in messages
        ]

    def close(self) -> None:
        """Close every context this factory opened; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for number, context in enumerate(self._contexts, start=1):
            if self._trace_name:
                traces = artifacts_dir() / "traces"
                traces.mkdir(parents=True, exist_ok=True)
                context.tracing.stop(path=str(traces / f"{self._trace_name}-{number}.zip"))
            context.close()
        self._contexts.clear()


def launch_chromium(playwright: Any) -> Browser:
    """Launch the system Chromium headless through ``executable_path``."""
    return playwright.chromium.launch(
        executable_path=chromium_executable(),
        headless=True,
        chromium_sandbox=False,
        args=list(CHROMIUM_ARGS),
    )


def browser_tests_last(items: list[Any]) -> None:
    """Reorder collected tests in place so that those using the browser run after all others.

    Sync Playwright keeps its event loop marked as running in the main thread while the
    session's browser is open, so ``asyncio.run`` would fail in any test that ran after it.
    """
    uses_browser = [item for item in items if "browser" in getattr(item, "fixturenames", ())]
    if uses_browser:
        chosen = {id(item) for item in uses_browser}
        items[:] = [item for item in items if id(item) not in chosen] + uses_browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless system Chromium for the whole test session."""
    from playwright.sync_api import sync_playwright

    chromium_executable()  # a clear error before Playwright's driver starts
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page_factory(browser: Browser, request: pytest.FixtureRequest) -> Iterator[PageFactory]:
    """Open pages with ``page_factory(layout, locale)``; fails the test on any console error.

    With ``SCANPAY_TRACE=1`` every page's Playwright trace (with screenshots of each step, the
    camera preview included) is kept in ``<artifacts>/traces/`` for debugging.
    """
    trace_name = None
    if os.environ.get("SCANPAY_TRACE") == "1":
        trace_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    factory = PageFactory(browser, trace_name=trace_name)
    yield factory
    factory.settle()
    errors = factory.unexpected_errors()
    factory.close()
    if errors:
        pytest.fail(
            f"{len(errors)} console/page error(s) in the browser:\n  " + "\n  ".join(errors),
            pytrace=False,
        )


def check_axe(page: Page, screen_name: str, *, tags: tuple[str, ...] = AXE_TAGS) -> None:
    """Run axe-core on ``page`` and fail on any serious or critical violation."""
    _check_screen_name(screen_name)
    if not page.evaluate("typeof window.axe?.run === 'function'"):
        # axe-core as bundled in the axe-playwright-python wheel: nothing is fetched.
        from axe_playwright_python.base import AXE_SCRIPT

        page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    violations = page.evaluate("(options) => axe.run(document, options)", options)["violations"]
    report = artifacts_dir() / "axe" / _layout_of(page) / f"{screen_name}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(violations, indent=2, ensure_ascii=False), encoding="utf-8")
    failing = [v for v in violations if v.get("impact") in AXE_FAILING_IMPACTS]
    if not failing:
        return
    lines = [f"axe-core: {len(failing)} serious/critical violation(s) on screen {screen_name!r}:"]
    for violation in failing:
        lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append("    at " + " ".join(_selector_text(t) for t in node["target"]))
    pytest.fail("\n".join(lines), pytrace=False)


def _layout_of(page: Page) -> str:
    size = page.viewport_size or {"width": 0, "height": 0}
    for name, viewport in LAYOUTS.items():
        if viewport == size:
            return name
    return f"{size['width']}x{size['height']}"


def _selector_text(target: Any) -> str:
    return target if isinstance(target, str) else " >>> ".join(map(str, target))


def screenshot(page: Page, screen_name: str, layout: Layout, *, full_page: bool = False) -> Path:
    """Write ``<artifacts>/screenshots/<layout>/<screen_name>.png`` and return its path."""
    _check_screen_name(screen_name)
    _check_layout(layout)
    path = artifacts_dir() / "screenshots" / layout / f"{screen_name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


_STORAGE_SCRIPT = """
async () => {
  // An opaque origin (about:blank, data:) can keep nothing; asking IndexedDB there logs an error.
  const opaque = window.origin === 'null';
  const safe = async (read) => {
    if (opaque) return [];
    try { return await read(); } catch (e) { return []; }
  };
  const keys = (store) => { const out = []; for (let i = 0; i < store.length; i++)
    out.push(store.key(i)); return out.sort(); };
  return {
    local_storage: await safe(async () => keys(window.localStorage)),
    session_storage: await safe(async () => keys(window.sessionStorage)),
    indexed_db: await safe(async () =>
      (await indexedDB.databases()).map((d) => d.name).sort()),
    cache_storage: await safe(async () => (await caches.keys()).sort()),
    opfs: await safe(async () => { const out = [];
      for await (const name of (await navigator.storage.getDirectory()).keys()) out.push(name);
      return out.sort(); }),
    service_workers: await safe(async () =>
      (await navigator.serviceWorker.getRegistrations()).map((r) => r.scope)),
  };
}
"""


def browser_storage_report(page: Page) -> dict[str, Any]:
    """Return what the page's origin and context keep: storage keys, caches, cookies, usage."""
    found: dict[str, Any] = page.evaluate(_STORAGE_SCRIPT)
    found["cookies"] = sorted(cookie["name"] for cookie in page.context.cookies())
    origin = page.evaluate("window.location.origin")
    found["origin"] = origin
    found["usage_bytes"] = 0
    found["usage_breakdown"] = {}
    if origin and origin != "null":
        session = page.context.new_cdp_session(page)
        try:
            usage = session.send("Storage.getUsageAndQuota", {"origin": origin})
        finally:
            session.detach()
        found["usage_bytes"] = int(usage["usage"])
        found["usage_breakdown"] = {
            part["storageType"]: int(part["usage"])
            for part in usage.get("usageBreakdown", [])
            if part["usage"]
        }
    return found


_TAP_PAINT_SCRIPT = """
([selector, changedSelector, timeoutMs]) => {
  if (document.querySelector(changedSelector)) {
    throw new Error(`'${changedSelector}' already matches before the tap`);
  }
  window.__scanpayTap = new Promise((resolve, reject) => {
    let tapAt = null;
    const onDown = (event) => {
      if (tapAt !== null) return;
      tapAt = event.timeStamp;
      setTimeout(() => { observer.disconnect();
        reject(new Error(`'${changedSelector}' did not appear within ${timeoutMs} ms`)); },
        timeoutMs);
    };
    window.addEventListener('pointerdown', onDown, {capture: true});
    window.addEventListener('touchstart', onDown, {capture: true});
    const finish = (observer) => {
      observer.disconnect();
      // The change is in the DOM; the next frame paints it, measured after that frame.
      requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => {
          window.removeEventListener('pointerdown', onDown, {capture: true});
          window.removeEventListener('touchstart', onDown, {capture: true});
          if (tapAt === null) reject(new Error('the change happened without a tap'));
          else resolve(performance.now() - tapAt);
        };
        channel.port2.postMessage(null);
      });
    };
    const observer = new MutationObserver(() => {
      if (document.querySelector(changedSelector)) finish(observer);
    });
    observer.observe(document, {subtree: true, childList: true, attributes: true,
      characterData: true});
  });
  // Handled here so that a timeout before Python awaits the result is not an uncaught error.
  window.__scanpayTap.catch(() => {});
}
"""


def tap_latency_ms(
    page: Page, selector: str, changed_selector: str, *, timeout_ms: int = 5_000
) -> float:
    """Tap ``selector`` and return ms from the touch to the frame showing ``changed_selector``.

    ``changed_selector`` is a CSS selector that matches only once the tap's effect is on screen;
    the clock starts at the touch event in the page, so Playwright's own overhead is left out.
    """
    page.evaluate(_TAP_PAINT_SCRIPT, [selector, changed_selector, timeout_ms])
    page.locator(selector).tap()
    return float(page.evaluate("window.__scanpayTap"))


_SMALL_TARGETS_SCRIPT = """
(minPx) => {
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], ' +
    '[role=link], [role=tab], [role=checkbox], [role=radio], [role=switch], [role=menuitem], ' +
    '[tabindex]:not([tabindex="-1"])');
  const out = [];
  for (const el of controls) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
    if (box.width < minPx || box.height < minPx) {
      const name = (el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 40);
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${name}" ` +
        `${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return out;
}
"""


def small_touch_targets(page: Page, min_px: int = 48) -> list[str]:
    """Return the visible controls narrower or shorter than ``min_px`` CSS pixels."""
    return list(page.evaluate(_SMALL_TARGETS_SCRIPT, min_px))


_GLYPH_SCRIPT = """
([text, fontFamily]) => {
  const canvas = document.createElement('canvas');
  canvas.width = 96; canvas.height = 96;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  return Array.from(text).map((ch) => {
    ctx.clearRect(0, 0, 96, 96);
    ctx.font = `64px ${fontFamily}`;
    ctx.fillStyle = '#000';
    ctx.textBaseline = 'top';
    ctx.fillText(ch, 8, 8);
    const data = ctx.getImageData(0, 0, 96, 96).data;
    let ink = 0, hash = 0;
    for (let i = 3; i < data.length; i += 4) {
      if (data[i]) ink++;
      hash = (hash * 31 + data[i]) | 0;
    }
    return [ink, hash];
  });
}
"""


def glyphs_render_distinctly(page: Page, text: str, font_family: str = "sans-serif") -> bool:
    """Say whether every character of ``text`` draws visible ink and no two draw the same shape.

    Characters no installed font covers all draw the same fallback box ("tofu"), so distinct
    shapes show that a real font with those glyphs is installed.
    """
    drawn = page.evaluate(_GLYPH_SCRIPT, [text, font_family])
    shapes = [tuple(glyph) for glyph in drawn]
    return all(ink > 0 for ink, _ in shapes) and len(set(shapes)) == len(shapes)


def platform_fonts(page: Page, selector: str) -> dict[str, int]:
    """Return the system fonts Chromium used to draw the text of ``selector`` (name: glyphs)."""
    session = page.context.new_cdp_session(page)
    try:
        session.send("DOM.enable")
        session.send("CSS.enable")
        root = session.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = session.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise BrowserHarnessError(f"no element matches {selector!r}")
        fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        session.detach()
    return {font["familyName"]: int(font["glyphCount"]) for font in fonts}
