"""The terminal's clients sign their requests when told to, as a back end requiring it needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend import BackendServer, BackendSettings
from payments.clients import ScoreClient, ServiceSettings
from payments.clients.errors import ApiError
from terminal.config.schema import ServiceSection

TERMINAL = "emu-bike-0001"


@pytest.fixture(scope="module")
def server() -> Iterator[BackendServer]:
    # The back end's real clock: a signature carries the wall time of the attempt.
    with BackendServer(BackendSettings(require_signatures=True)) as running:
        yield running


def _settings(server: BackendServer, *, sign: bool) -> ServiceSettings:
    return ServiceSettings(url=server.url, api_key=server.api_key_for(TERMINAL),
                           sign_requests=sign, max_retries=0)


def test_signed_calls_are_served_by_a_back_end_that_requires_signatures(
        server: BackendServer) -> None:
    with ScoreClient(_settings(server, sign=True)) as scores:
        assert 350 <= scores.get_score("rider-good").score <= 950
        # Every attempt has its own nonce: the same call again is not a replay.
        assert scores.get_score("rider-good").score == scores.get_score("rider-good").score


def test_unsigned_calls_are_refused_with_the_reason(server: BackendServer) -> None:
    with ScoreClient(_settings(server, sign=False)) as scores, \
            pytest.raises(ApiError) as refused:
        scores.get_score("rider-good")
    assert refused.value.code == "signature_required"


def test_the_config_switch_reaches_the_client() -> None:
    section = ServiceSection(url="http://127.0.0.1:9", api_key="k", sign_requests=True)
    assert ServiceSettings.from_section(section).sign_requests is True
    assert ServiceSettings.from_section(ServiceSection(url="http://127.0.0.1:9")).sign_requests \
        is False
