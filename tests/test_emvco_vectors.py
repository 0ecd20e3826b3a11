"""The parser against the shared payment-QR vectors (skipped when ../shared is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from payments.qr import QRPayloadError, parse_payload
from terminal.shared_data import shared_root

pytestmark = pytest.mark.shared


def _vectors_path() -> Path:
    return shared_root() / "data" / "payment-qr" / "vectors.jsonl"


def _load() -> list[dict]:
    path = _vectors_path()
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


VECTORS = _load()
needs_vectors = pytest.mark.skipif(not VECTORS, reason="shared payment-qr vectors are absent")


def _strict_verdict(payload: str) -> bool:
    try:
        return parse_payload(payload).conformant
    except QRPayloadError:
        return False


@needs_vectors
def test_strict_verdict_agrees_with_at_least_97_percent_of_labels() -> None:
    disagree = [v["id"] for v in VECTORS if _strict_verdict(v["payload"]) != v["valid"]]
    agreement = 1 - len(disagree) / len(VECTORS)
    assert agreement >= 0.97, disagree


@needs_vectors
@pytest.mark.parametrize("vector", [v for v in VECTORS if v["layer"] in ("crc", "tlv")],
                         ids=lambda v: v["id"])
def test_every_crc_or_tlv_invalid_vector_raises(vector: dict) -> None:
    with pytest.raises(QRPayloadError) as info:
        parse_payload(vector["payload"])
    assert info.value.layer in ("crc", "tlv", "format")


@needs_vectors
@pytest.mark.parametrize("vector", [v for v in VECTORS if v["valid"]], ids=lambda v: v["id"])
def test_every_stated_field_of_a_valid_vector_is_returned_exactly(vector: dict) -> None:
    parsed = parse_payload(vector["payload"])
    expected = {k: v for k, v in vector["expected"].items() if not k.startswith("_")}
    assert {k: parsed.tags.get(k) for k in expected} == expected
    assert parsed.scheme == vector["scheme"]


@needs_vectors
@pytest.mark.parametrize("vector", [v for v in VECTORS if v["layer"] in ("emvco", "scheme")],
                         ids=lambda v: v["id"])
def test_rule_level_invalid_vectors_are_never_conformant(vector: dict) -> None:
    try:
        parsed = parse_payload(vector["payload"])
    except QRPayloadError as exc:  # a template whose inner TLV is broken cannot be read at all
        assert exc.layer == "tlv" and exc.tag is not None and exc.offset is not None
    else:
        assert parsed.violations
