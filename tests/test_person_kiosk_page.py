"""The kiosk's web app serves the person's report page (/me/<token>) too: in the kiosk's
language by default, the phone's language when it asks, and an expired link explained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.kiosk_support import KioskRig, kiosk_rig


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskRig]:
    with kiosk_rig(Path(tmp_path_factory.mktemp("kiosk"))) as running:
        yield running


def token_of(rig: KioskRig, subject: str) -> str:
    r = requests.post(f"{rig.emulator.server.url}/v1/person/sessions", timeout=10,
                      json={"code": rig.emulator.wallet_code(subject)})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_the_kiosk_serves_the_report_in_its_language(rig: KioskRig) -> None:
    token = token_of(rig, "rider-blacklisted")
    page = requests.get(f"{rig.url.rstrip('/')}/me/{token}", timeout=10)
    assert page.status_code == 200
    assert page.headers["cache-control"].startswith("no-store")
    assert 'lang="zh-CN"' in page.text and "您的信用分报告" in page.text
    assert 'id="person-score">660<' in page.text
    assert "(2026) Hu 0101 Zhi No. 4417" in page.text  # the court list reference: the origin
    english = requests.get(f"{rig.url.rstrip('/')}/me/{token}", timeout=10,
                           headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Your score report" in english.text
    css = requests.get(f"{rig.url.rstrip('/')}/person.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_a_made_up_token_is_explained_not_a_crash(rig: KioskRig) -> None:
    page = requests.get(f"{rig.url.rstrip('/')}/me/made-up?lang=en", timeout=10)
    assert page.status_code == 404 and "expired or is not valid" in page.text
    bad = requests.get(f"{rig.url.rstrip('/')}/me/{'x' * 600}?lang=en", timeout=10)
    assert bad.status_code == 404 and "expired or is not valid" in bad.text
