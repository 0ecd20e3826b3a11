"""Doctor check of the model files a configuration names, against their checksums."""

from __future__ import annotations

from pathlib import Path

from terminal.config.schema import Config
from terminal.doctor.result import CheckResult, failed, passed


def check_models(config: Config) -> list[CheckResult]:
    """One result per configured model file (none for a unit without face payments)."""
    face = config.face
    if face is None:
        return []
    results = [_check_face_recognition_models()]
    if face.antispoof_model:
        results.append(_check_file("antispoof model", Path(face.antispoof_model),
                                   face.antispoof_sha256,
                                   "face.antispoof_model / face.antispoof_sha256"))
    return results


def _check_face_recognition_models() -> CheckResult:
    import warnings

    name = "face models"
    try:
        with warnings.catch_warnings():  # it imports the deprecated pkg_resources
            warnings.simplefilter("ignore", UserWarning)
            import face_recognition_models as frm
    except ImportError:
        return failed(name, "face_recognition_models is not installed",
                      "run scripts/setup.sh again (it installs the pinned models package)")
    paths = [Path(frm.pose_predictor_five_point_model_location()),
             Path(frm.face_recognition_model_location())]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        return failed(name, f"missing: {', '.join(missing)}",
                      "reinstall face_recognition_models (scripts/setup.sh)")
    return passed(name, f"dlib landmark and embedding models present ({len(paths)} files)")


def _check_file(name: str, path: Path, sha256: str, keys: str) -> CheckResult:
    from vision.errors import ModelError
    from vision.models import sha256_of

    if not path.is_file():
        return failed(name, f"{path} not found", f"copy the model there or fix {keys}")
    try:
        actual = sha256_of(path)
    except ModelError as exc:
        return failed(name, f"{path} cannot be read: {exc}", "check the file's permissions")
    if actual.lower() != sha256.lower():
        return failed(name, f"{path} has sha256 {actual[:12]}…, expected {sha256[:12]}…",
                      "the file is damaged or a different model: copy the right file again, "
                      f"or set {keys.split(' / ')[-1]} to the new model's sha256")
    return passed(name, f"{path} sha256 {actual[:12]}… matches")
