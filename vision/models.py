"""Loading optional model files from a configured path, checked against their sha256.

Models are never downloaded: the terminal's config names a file and its checksum, and a file
that is missing, unreadable or different from the expected bytes raises :class:`ModelError`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from vision.errors import ModelError

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def verified_model_bytes(path: str | Path, sha256: str) -> bytes:
    """The bytes of the model at ``path`` after checking them against ``sha256``.

    The bytes checked are the bytes returned, so the file cannot change between the check
    and the load.
    """
    expected = sha256.strip().lower()
    if not _SHA256.match(expected):
        raise ModelError(f"model checksum for {path} must be 64 hex digits, got {sha256!r}")
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {p}: {exc.strerror or exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelError(f"model file {p} fails its checksum: expected sha256 {expected[:12]}…, "
                         f"got {actual[:12]}…")
    log.debug("model %s verified (%d bytes)", p, len(data))
    return data


def load_onnx_session(path: str | Path, sha256: str, *, threads: int = 1) -> object:
    """An onnxruntime InferenceSession of a checksum-verified ONNX model (CPU)."""
    data = verified_model_bytes(path, sha256)
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError(f"onnxruntime is not installed: {exc}") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(data, sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"model file {path} is not a loadable ONNX model: {exc}") from exc
