"""`scanpay run --config <kiosk config>` as a subprocess: it prints the page's URL, serves the
screen and the staff screen, and stops cleanly (exit 0) on SIGTERM."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import requests

from terminal.config import default_config_path

SCANPAY = [sys.executable, "-m", "terminal.cli.main"]


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue[str], pattern: str, timeout_s: float) -> re.Match[str]:
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no {pattern!r} within {timeout_s:.0f} s: {seen}") from None
        if not line:
            raise AssertionError(f"the kiosk exited before {pattern!r}: {seen}")
        seen.append(line)
        if match := re.search(pattern, line):
            return match


def kiosk_config_file(tmp_path: Path) -> Path:
    """The embedded emulator kiosk configuration, on a free port, with its own state folder."""
    text = default_config_path("kiosk").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^port = \d+", "port = 0", text)
    text = re.sub(r'(?m)^state_dir = ""', f'state_dir = "{tmp_path / "state"}"', text)
    text = re.sub(r"(?m)^embed_workers = \d+", "embed_workers = 0", text)
    assert "[kiosk]" in text and 'role = "kiosk"' in text
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_serves_the_kiosk_page_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = kiosk_config_file(tmp_path)
    process = subprocess.Popen([*SCANPAY, "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = _lines(process.stdout)
        url = _until(lines, r"ready: open (http://127\.0\.0\.1:\d+)/ in the kiosk browser",
                     90).group(1)
        page = requests.get(f"{url}/", timeout=10)
        assert page.status_code == 200 and 'data-action="start"' in page.text
        assert requests.get(f"{url}/screen.json", timeout=10).json()["state"] == "attract"
        staff = _until(lines, r"staff screen: (\S+)", 10).group(1)
        assert staff == f"{url}/staff"
        assert requests.get(staff, timeout=10).status_code == 200
        assert requests.post(f"{url}/action", json={"action": "start"},
                             timeout=10).status_code == 204
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
        last = _until(lines, r"^stopped: .*", 10).group(0)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert returncode == 0
    assert last == "stopped: 0 order(s) paid today"
    assert (tmp_path / "state" / "kiosk.sqlite3").exists()


def test_run_with_a_broken_kiosk_section_is_one_error_line(tmp_path: Path) -> None:
    config = kiosk_config_file(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(
        "tax_rate_bp = 600", "tax_rate_bp = 9000"), encoding="utf-8")
    result = subprocess.run([*SCANPAY, "run", "--config", str(config)], capture_output=True,
                            text=True, timeout=90, check=False)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "tax_rate_bp" in result.stderr, result.stderr
