"""Model files: checksum verification before loading; optional MiniFASNet from ../shared."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from terminal.shared_data import shared_root
from vision.errors import ModelError
from vision.face.synthetic import head_cloud, observe
from vision.models import load_onnx_session, sha256_of, verified_model_bytes

SHARED = shared_root()
MINIFASNET_V2 = SHARED / "models" / "MiniFASNetV2.onnx"
MINIFASNET_V2_SHA = "4eed38f0bde33c9b805942a5f25e42ce1161e2bda545254be622be957727794e"


def test_verified_bytes_are_returned_when_the_checksum_matches(tmp_path: Path) -> None:
    f = tmp_path / "m.onnx"
    f.write_bytes(b"model bytes")
    sha = hashlib.sha256(b"model bytes").hexdigest()
    assert verified_model_bytes(f, sha.upper()) == b"model bytes"
    assert sha256_of(f) == sha


def test_a_changed_file_fails_its_checksum(tmp_path: Path) -> None:
    f = tmp_path / "m.onnx"
    f.write_bytes(b"tampered")
    with pytest.raises(ModelError, match="fails its checksum"):
        verified_model_bytes(f, hashlib.sha256(b"original").hexdigest())


def test_missing_files_and_malformed_checksums_raise_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        verified_model_bytes(tmp_path / "absent.onnx", "0" * 64)
    with pytest.raises(ModelError, match="64 hex digits"):
        verified_model_bytes(tmp_path / "absent.onnx", "abc")
    with pytest.raises(ModelError, match="cannot read"):
        sha256_of(tmp_path / "absent.onnx")


def test_bytes_that_are_not_onnx_raise_a_model_error(tmp_path: Path) -> None:
    f = tmp_path / "junk.onnx"
    f.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        load_onnx_session(f, hashlib.sha256(b"not an onnx graph").hexdigest())


@pytest.mark.shared
@pytest.mark.skipif(not MINIFASNET_V2.is_file(), reason="../shared/models not present")
def test_minifasnet_loads_with_its_checksum_and_gives_a_probability() -> None:
    from vision.face.antispoof import AntiSpoofModel, AntiSpoofModelSpec

    model = AntiSpoofModel.load([AntiSpoofModelSpec(str(MINIFASNET_V2), MINIFASNET_V2_SHA, 2.7)])
    obs = observe(head_cloud(), 0.0)
    image = np.full((480, 640, 3), 128, np.uint8)
    result = model.check(image, obs)
    assert 0.0 <= result.score <= 1.0
    assert result.name == "antispoof_model"
    with pytest.raises(ModelError):
        AntiSpoofModel.load([AntiSpoofModelSpec(str(MINIFASNET_V2), "0" * 64, 2.7)])
