"""The kiosk's Chromium launcher refuses to show anything but the local screen server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kiosk-browser.sh"


@pytest.mark.parametrize("url", ["https://example.com/", "http://10.0.0.5:8080/",
                                 "file:///etc/passwd", "http://127.0.0.1.evil.example/"])
def test_launcher_refuses_a_page_that_is_not_on_loopback(url: str) -> None:
    result = subprocess.run(["bash", str(SCRIPT), url], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 2
    assert "loopback only" in result.stderr


def test_launcher_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
