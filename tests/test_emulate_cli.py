"""`scanpay emulate` as a subprocess: URLs on the first line, pages served, SIGTERM stops it."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from typing import IO

import requests

from terminal.config import default_config_path

SCANPAY = [sys.executable, "-m", "terminal.cli.main"]


def _first_line(stream: IO[str], timeout_s: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout_s)
    except queue.Empty:
        raise AssertionError(f"no output within {timeout_s:.0f} s") from None


def test_json_first_line_gives_both_urls_and_sigterm_stops_cleanly() -> None:
    process = subprocess.Popen([*SCANPAY, "emulate", "--device", "bike", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        urls = json.loads(_first_line(process.stdout, 90))
        assert set(urls) == {"device_url", "panel_url"}
        panel = requests.get(urls["panel_url"], timeout=10)
        assert panel.status_code == 200 and urls["device_url"] in panel.text
        assert requests.get(urls["device_url"], timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == ""  # nothing after the first line in --json mode


def test_the_human_form_prints_both_urls_and_ctrl_c_stops_it() -> None:
    process = subprocess.Popen([*SCANPAY, "emulate"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        device = _first_line(process.stdout, 90)
        panel = _first_line(process.stdout, 10)
        assert device.startswith("device page  http://127.0.0.1:")
        assert panel.startswith("dev panel    http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out.splitlines()[-1] == "stopped"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCANPAY, "emulate", *args], capture_output=True, text=True,
                          timeout=90, check=False)


def test_bad_flags_are_one_error_line() -> None:
    for args, message in ((["--device", "toaster"], "invalid choice: 'toaster'"),
                          (["--port", "http"], "not a port number: 'http'"),
                          (["--port", "70000"], "port must be between 0 and 65535"),
                          (["--frobnicate"], "unrecognized arguments: --frobnicate")):
        result = _run(*args)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_a_configuration_for_the_other_device_is_one_error_line() -> None:
    result = _run("--device", "bike", "--config", str(default_config_path("kiosk")))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "needs a bike-lock configuration" in result.stderr


def test_help_describes_the_command() -> None:
    result = subprocess.run([*SCANPAY, "emulate", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0
    for words in ("--device {bike,kiosk}", "--port N", "--json", "dev panel"):
        assert words in result.stdout


def test_a_busy_panel_port_is_one_error_line() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = _run("--port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1:" in result.stderr
