"""The real-browser harness against small static pages served by a loopback HTTP server."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests import browser as harness
from tests.browser import (
    LAYOUTS,
    REPO_ROOT,
    BrowserHarnessError,
    PageFactory,
    browser_storage_report,
    browser_tests_last,
    check_axe,
    chromium_executable,
    glyphs_render_distinctly,
    platform_fonts,
    screenshot,
    small_touch_targets,
    tap_latency_ms,
)

HEAD = '<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
STYLE = (
    "<style>body{font:24px sans-serif;margin:0;color:#111;background:#fff}"
    "button{min-width:64px;min-height:64px;font-size:24px}</style></head>"
)
PAGES = {
    "clean.html": HEAD.format(lang="en", title="Harness clean page")
    + STYLE
    + '<body><main><h1>Order here</h1><p>Touch to start.</p>'
    '<button id="go" type="button">Start</button></main>'
    "<script>document.getElementById('go').addEventListener('click', () => {"
    "const p = document.createElement('p'); p.id = 'done'; p.textContent = 'Started';"
    "document.querySelector('main').append(p); });</script></body></html>",
    "slow.html": HEAD.format(lang="en", title="Harness slow page")
    + STYLE
    + '<body><main><h1>Slow</h1><button id="go" type="button">Start</button></main>'
    "<script>document.getElementById('go').addEventListener('click', () => setTimeout(() => {"
    "document.body.dataset.state = 'started'; }, 150));</script></body></html>",
    "zh.html": HEAD.format(lang="zh-CN", title="点餐")
    + STYLE
    + '<body><main><h1 id="greeting">你好，欢迎光临</h1>'
    '<p id="latin">Hello</p></main></body></html>',
    "planted.html": HEAD.format(lang="en", title="Harness planted violations")
    + STYLE
    + '<body><main><h1>Menu</h1><img id="photo" src="dot.png">'
    '<button id="nameless" type="button"></button></main></body></html>',
    "errors.html": HEAD.format(lang="en", title="Harness errors")
    + STYLE
    + "<body><main><h1>Errors</h1></main><script>console.error('planted console error');"
    "setTimeout(() => { throw new Error('planted uncaught error'); }, 0);</script>"
    "</body></html>",
    "outside.html": HEAD.format(lang="en", title="Harness outside asset")
    + STYLE
    + '<body><main><h1>Outside</h1><img alt="logo" src="http://cdn.example.com/logo.png">'
    "</main></body></html>",
    "targets.html": HEAD.format(lang="en", title="Harness targets")
    + "</head><body><main><h1>Targets</h1>"
    '<button id="tiny" type="button" style="width:20px;height:20px">x</button>'
    '<button id="big" type="button" style="width:96px;height:64px">OK</button>'
    '<input type="hidden" name="h"></main></body></html>',
}
# A 1x1 PNG, so pages that show an image load it without a 404.
DOT_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f2c1a40000000049454e44ae426082"
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the static pages from a real HTTP server on loopback; yield its base URL."""
    root = tmp_path_factory.mktemp("site")
    for name, html in PAGES.items():
        (root / name).write_text(html, encoding="utf-8")
    (root / "dot.png").write_bytes(DOT_PNG)
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {});", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Send this test's artefacts to a temporary folder."""
    folder = tmp_path / "artifacts"
    monkeypatch.setenv("SCANPAY_ARTIFACTS", str(folder))
    return folder


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_chromium_is_debians_package_not_a_downloaded_browser() -> None:
    path = Path(chromium_executable())
    assert path.is_file()
    assert "ms-playwright" not in str(path.resolve())


def test_missing_chromium_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "CHROMIUM_PATHS", (tmp_path / "chromium",))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserHarnessError, match=r"run scripts/setup.sh --dev"):
        chromium_executable()


def test_browser_tests_run_after_all_others() -> None:
    class Item:
        def __init__(self, name: str, *fixtures: str) -> None:
            self.name, self.fixturenames = name, list(fixtures)

    items = [Item("a", "browser", "page_factory"), Item("b", "tmp_path"), Item("c", "browser"),
             Item("d")]
    browser_tests_last(items)
    assert [item.name for item in items] == ["b", "d", "a", "c"]


def test_this_session_runs_browser_tests_last(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    first_browser_test = next(
        i for i, item in enumerate(items) if "browser" in item.fixturenames
    )
    assert all("browser" in item.fixturenames for item in items[first_browser_test:])


@pytest.mark.parametrize("layout", ["portrait", "landscape"])
def test_page_opens_at_the_layout_viewport_with_touch(
    page_factory: PageFactory, site: str, layout: str
) -> None:
    page = page_factory(layout)
    page.goto(f"{site}/clean.html")
    seen = page.evaluate(
        "({width: innerWidth, height: innerHeight, touch: navigator.maxTouchPoints,"
        " lang: navigator.language})"
    )
    assert (seen["width"], seen["height"]) == (LAYOUTS[layout]["width"], LAYOUTS[layout]["height"])
    assert seen["touch"] > 0
    assert seen["lang"] == "en-US"
    assert page.get_by_role("button", name="Start").is_visible()


def test_locale_reaches_the_page(page_factory: PageFactory, site: str) -> None:
    page = page_factory("portrait", "zh-CN")
    page.goto(f"{site}/zh.html")
    assert page.evaluate("navigator.language") == "zh-CN"


def test_unknown_layout_is_refused(page_factory: PageFactory) -> None:
    with pytest.raises(BrowserHarnessError, match="layout 'square'"):
        page_factory("square")  # type: ignore[arg-type]


def test_console_and_page_errors_are_recorded(page_factory: PageFactory, site: str) -> None:
    page = page_factory(allow_console_errors=True)
    with page.expect_event("pageerror"):
        page.goto(f"{site}/errors.html")
    errors = page_factory.console_errors(page)
    assert any("planted console error" in line for line in errors)
    assert any("planted uncaught error" in line for line in errors)
    assert page_factory.unexpected_errors() == []


def test_errors_on_a_page_that_does_not_allow_them_are_unexpected(browser, site: str) -> None:
    factory = PageFactory(browser)
    try:
        quiet = factory()
        quiet.goto(f"{site}/clean.html")
        noisy = factory("portrait")
        noisy.goto(f"{site}/clean.html")
        noisy.evaluate("console.error('card reader missing')")
        factory.settle()
        assert factory.console_errors(quiet) == []
        assert factory.unexpected_errors() == [
            "portrait en-US page #2: console.error: card reader missing"
        ]
    finally:
        factory.close()
    factory.close()


def test_a_test_with_a_console_error_fails_at_teardown(tmp_path: Path, site: str) -> None:
    test_file = tmp_path / "test_noisy.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            from tests.browser import browser, page_factory  # noqa: F401

            def test_noisy(page_factory):
                page = page_factory()
                page.goto("{site}/clean.html")
                page.evaluate("setTimeout(() => console.error('the scanner went away'), 0)")
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT),
             "SCANPAY_ARTIFACTS": str(tmp_path / "artifacts")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout
    assert "console.error: the scanner went away" in run.stdout


def test_a_request_beyond_loopback_is_refused_and_reported(
    page_factory: PageFactory, site: str
) -> None:
    page = page_factory(allow_console_errors=True)
    with (
        page.expect_console_message(lambda message: message.type == "error"),
        page.expect_event("requestfailed") as failed,
    ):
        page.goto(f"{site}/outside.html")
    assert failed.value.url == "http://cdn.example.com/logo.png"
    assert any("cdn.example.com" in line for line in page_factory.console_errors(page))


def test_axe_fails_on_planted_serious_violations(
    page_factory: PageFactory, site: str, artifacts: Path
) -> None:
    page = page_factory()
    page.goto(f"{site}/planted.html")
    with pytest.raises(pytest.fail.Exception) as caught:
        check_axe(page, "planted")
    report = str(caught.value)
    assert "on screen 'planted'" in report
    assert "image-alt (critical)" in report
    assert "button-name (critical)" in report
    assert "at #photo" in report
    assert "at #nameless" in report
    assert (artifacts / "axe" / "landscape" / "planted.json").is_file()


def test_axe_checks_the_screen_shown_now_after_a_swap_in_place(
    page_factory: PageFactory, site: str, artifacts: Path
) -> None:
    page = page_factory("portrait")
    page.goto(f"{site}/clean.html")
    check_axe(page, "before-swap")
    page.evaluate("document.querySelector('main').innerHTML = '<h1>Pay</h1><button></button>'")
    with pytest.raises(pytest.fail.Exception, match="button-name"):
        check_axe(page, "after-swap")


@pytest.mark.parametrize("page_name", ["clean.html", "zh.html"])
def test_axe_passes_a_clean_page(
    page_factory: PageFactory, site: str, artifacts: Path, page_name: str
) -> None:
    page = page_factory("portrait")
    page.goto(f"{site}/{page_name}")
    check_axe(page, page_name.removesuffix(".html"))


def test_screenshots_are_written_per_layout(
    page_factory: PageFactory, site: str, artifacts: Path
) -> None:
    for layout in ("portrait", "landscape"):
        page = page_factory(layout)
        page.goto(f"{site}/clean.html")
        path = screenshot(page, "attract", layout)
        assert path == artifacts / "screenshots" / layout / "attract.png"
        assert png_size(path) == (LAYOUTS[layout]["width"], LAYOUTS[layout]["height"])


def test_traces_are_kept_when_asked(browser, site: str, artifacts: Path) -> None:
    factory = PageFactory(browser, trace_name="kiosk_order")
    page = factory()
    page.goto(f"{site}/clean.html")
    page.locator("#go").tap()
    factory.close()
    trace = artifacts / "traces" / "kiosk_order-1.zip"
    assert trace.stat().st_size > 0


def test_screen_names_must_be_safe_file_names(page_factory: PageFactory, artifacts: Path) -> None:
    page = page_factory()
    with pytest.raises(BrowserHarnessError, match=r"screen name '\.\./menu'"):
        screenshot(page, "../menu", "landscape")


def test_storage_report_is_empty_for_a_clean_page(page_factory: PageFactory, site: str) -> None:
    page = page_factory()
    page.goto(f"{site}/clean.html")
    report = browser_storage_report(page)
    assert report["origin"] == site
    assert report["usage_breakdown"] == {}
    for kept in ("local_storage", "session_storage", "indexed_db", "cache_storage", "opfs",
                 "service_workers", "cookies"):
        assert report[kept] == [], kept
    assert report["usage_bytes"] == 0


def test_storage_report_shows_what_a_page_kept(page_factory: PageFactory, site: str) -> None:
    page = page_factory()
    page.goto(f"{site}/clean.html")
    page.evaluate(
        """async () => {
          localStorage.setItem('face_frame', 'x');
          sessionStorage.setItem('digits', '1234');
          document.cookie = 'seen=1; path=/';
          await new Promise((resolve, reject) => {
            const open = indexedDB.open('frames');
            open.onupgradeneeded = () => open.result.createObjectStore('f');
            open.onsuccess = () => { open.result.close(); resolve(); };
            open.onerror = () => reject(open.error);
          });
          const cache = await caches.open('snapshots');
          await cache.put('/face.jpg', new Response(new Uint8Array(4096)));
        }"""
    )
    report = browser_storage_report(page)
    assert report["local_storage"] == ["face_frame"]
    assert report["session_storage"] == ["digits"]
    assert report["cookies"] == ["seen"]
    assert report["indexed_db"] == ["frames"]
    assert report["cache_storage"] == ["snapshots"]
    assert report["usage_bytes"] > 0


def test_responses_are_recorded_with_their_cache_rules(
    page_factory: PageFactory, site: str
) -> None:
    page = page_factory()
    page.goto(f"{site}/targets.html")
    page.evaluate("async () => { await fetch('/dot.png'); }")
    page_factory.settle()
    seen = {response.url.removeprefix(site): response for response in page_factory.responses(page)}
    assert seen["/targets.html"].status == 200
    assert seen["/targets.html"].content_type.startswith("text/html")
    assert seen["/dot.png"].content_type == "image/png"
    assert seen["/dot.png"].may_be_cached  # the test server sends no Cache-Control: no-store
    assert not replace(seen["/dot.png"], cache_control="no-store, max-age=0").may_be_cached


def test_service_workers_are_blocked(page_factory: PageFactory, site: str) -> None:
    page = page_factory()
    page.goto(f"{site}/clean.html")
    registrations = page.evaluate(
        """async () => {
          await navigator.serviceWorker.register('/sw.js');
          return (await navigator.serviceWorker.getRegistrations()).length;
        }"""
    )
    assert registrations == 0
    assert browser_storage_report(page)["service_workers"] == []


def test_chinese_text_renders_with_a_real_cjk_font(page_factory: PageFactory, site: str) -> None:
    page = page_factory("portrait", "zh-CN")
    page.goto(f"{site}/zh.html")
    fonts = platform_fonts(page, "#greeting")  # the system fonts Chromium drew the heading with
    assert glyphs_render_distinctly(page, "你好欢迎点餐支付"), f"drawn as boxes; fonts: {fonts}"
    assert sum(fonts.values()) == len("你好，欢迎光临")


def test_glyph_check_notices_characters_no_font_has(page_factory: PageFactory, site: str) -> None:
    page = page_factory()
    page.goto(f"{site}/clean.html")
    # Private-use code points: no installed font draws them, so they all fall back alike.
    assert not glyphs_render_distinctly(page, "\ue000\ue001\ue002")


def test_tap_latency_is_measured_from_the_touch_to_the_painted_change(
    page_factory: PageFactory, site: str
) -> None:
    page = page_factory()
    page.goto(f"{site}/clean.html")
    latency = tap_latency_ms(page, "#go", "#done")
    assert math.isfinite(latency)
    assert latency > 0
    assert page.locator("#done").is_visible()


def test_tap_latency_includes_the_pages_own_delay(page_factory: PageFactory, site: str) -> None:
    page = page_factory()
    page.goto(f"{site}/slow.html")
    # The page changes 150 ms after the tap (setTimeout), so the measure cannot be smaller.
    assert tap_latency_ms(page, "#go", "body[data-state=started]") >= 150


def test_tap_latency_refuses_a_change_already_on_screen(
    page_factory: PageFactory, site: str
) -> None:
    from playwright.sync_api import Error

    page = page_factory()
    page.goto(f"{site}/clean.html")
    with pytest.raises(Error, match="already matches before the tap"):
        tap_latency_ms(page, "#go", "main")


def test_tap_latency_reports_a_change_that_never_comes(
    page_factory: PageFactory, site: str
) -> None:
    from playwright.sync_api import Error

    page = page_factory()
    page.goto(f"{site}/clean.html")
    with pytest.raises(Error, match="did not appear within 300 ms"):
        tap_latency_ms(page, "#go", "#never", timeout_ms=300)


def test_small_touch_targets_are_listed(page_factory: PageFactory, site: str) -> None:
    page = page_factory()
    page.goto(f"{site}/targets.html")
    assert small_touch_targets(page) == ['button#tiny "x" 20x20']
