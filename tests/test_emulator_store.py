"""The emulator's back end on PostgreSQL: ``[emulator] database = "postgresql"`` starts a
private server for the session and removes it afterwards."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from terminal.config import default_config_path, load_config
from terminal.emulator.session import Emulator

BASE = load_config(default_config_path("emulator"))


def test_the_emulator_runs_its_back_end_on_a_private_postgresql(tmp_path: Path) -> None:
    from backend.localpg import PostgresMissing, find_bin_dir

    try:
        find_bin_dir()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    assert BASE.emulator is not None
    config = dataclasses.replace(
        BASE, emulator=dataclasses.replace(BASE.emulator, database="postgresql"))
    emulator = Emulator(config, state_dir=tmp_path)
    with emulator:
        assert emulator.server.backend.store.dialect == "postgresql"
        url = emulator.server.settings.database
        assert url.startswith("postgresql://")
        socket_dir = Path(parse_qs(urlsplit(url).query)["host"][0])
        postgres_dir = socket_dir.parent  # the server's temporary directory
        assert (postgres_dir / "data").is_dir()
        assert emulator.wallet_code("rider-good")
        assert {s["subject_id"] for s in emulator.subjects()} >= {"rider-good", "rider-low"}
    assert not postgres_dir.exists()
    assert not (tmp_path / "backend.sqlite3").exists()
