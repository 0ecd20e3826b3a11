"""Configuration files load into typed objects; every mistake gets one clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from terminal.config import default_config_path, load_config
from terminal.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

MINIMAL = """
[terminal]
id = "bike-1"
role = "bike-lock"

[score_service]
url = "https://score.example"

[gateway]
url = "https://gw.example"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "unit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_gets_embedded_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.terminal.id == "bike-1"
    assert config.fare.amount_minor == 150
    assert config.score_service.read_timeout_s == 5.0


@pytest.mark.parametrize(
    "path",  # menu.toml is the kiosk's catalogue, checked in tests/test_kiosk_catalogue.py
    sorted(p for p in (REPO / "configs").glob("*.toml") if p.name != "menu.toml"),
    ids=lambda p: p.name)
def test_every_example_in_configs_is_valid(path: Path) -> None:
    load_config(path)


@pytest.mark.parametrize("name", ["emulator", "kiosk"])
def test_embedded_defaults_are_valid(name: str) -> None:
    load_config(default_config_path(name))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[fare]\nprice = 3\n', "unit.toml: fare.price: unknown key"),
        ('[fare]\namount_minor = "1.50"\n',
         "unit.toml: fare.amount_minor: expected an integer, got string"),
        ('[fare]\namount_minor = 1.5\n', "fare.amount_minor: expected an integer, got number 1.5"),
        ('[camera]\nkind = "webcam"\n', "camera.kind: expected one of 'synthetic'"),
        ('[scan]\nbudget_ms = true\n', "scan.budget_ms: expected a number, got boolean"),
        ('[deposit]\ndecline_restrictions = "x"\n',
         "deposit.decline_restrictions: expected a list"),
        ('[fare]\nblock_minutes = 0\n', "unit.toml: fare.block_minutes must be > 0"),
        ('[face]\nembed_workers = 9\n', "unit.toml: face: probe_spacing_s must be >= 0 and "
         "embed_workers 0..8"),
        ('bogus = 1\n', "unit.toml: bogus: unknown key"),
        ('[face.quality]\nbogus = 1\n', "unit.toml: face.quality.bogus: unknown key"),
        ('[face]\npayment_threshold = 7\n', "face.payment_threshold must be between 0 and 2"),
        ('[lock]\nlow_battery_pct = 120\n', "lock.low_battery_pct must be between 0 and 100"),
    ],
)
def test_mistakes_name_file_key_and_expectation(tmp_path: Path, extra: str, expected: str) -> None:
    # Top-level keys must precede tables in TOML, so put the extra text first.
    path = write(tmp_path, extra + MINIMAL if not extra.startswith("[") else MINIMAL + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_section_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"terminal.role: missing value"):
        load_config(write(tmp_path, '[terminal]\nid = "x"\n'))


def test_missing_backend_url_without_emulator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"score_service.url: required unless \[emulator\]"):
        load_config(write(tmp_path, '[terminal]\nid = "x"\nrole = "kiosk"\n'))


def test_invalid_toml_and_bad_bytes_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[terminal\n"))
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe[terminal]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")


def test_config_check_cli_reports_one_line_and_fails(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[lock]\nkind = 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "terminal.cli.main", "config", "check", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "lock.kind: expected one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_cli_accepts_a_good_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    result = subprocess.run(
        [sys.executable, "-m", "terminal.cli.main", "config", "check", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_unknown_cli_arguments_give_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "terminal.cli.main", "config", "check"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_the_emulator_example_matches_the_embedded_demo_defaults() -> None:
    assert load_config(REPO / "configs" / "emulator.toml") == load_config(
        default_config_path("emulator"))
