"""`scanpay face ...`: face verification and liveness on files.

Each action is one small ``_add_<action>(inner)`` function listed in ``FACE_ACTIONS``; adding a
sub-command (enroll, delete) is one more such function. Vision and model imports stay inside
the handlers so `scanpay --help` stays fast. Nothing is written to disk: images, embeddings
and landmarks live in memory for the run only.

Every input file is checked before any verdict is printed: a missing or unreadable file is one
error line and exit status 1, never a "no match" or "not live" that could be taken for a
result. A readable image without a usable face is a real verdict, with its reason.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from terminal.cli import face_enroll
from terminal.errors import TerminalError

if TYPE_CHECKING:
    from terminal.config.schema import FaceSection
    from vision.face.clip import ClipLimits

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `face` command and its actions."""
    parser = sub.add_parser("face", help="face verification, liveness and enrollment")
    inner = parser.add_subparsers(dest="face_command", metavar="ACTION",
                                  parser_class=type(parser))
    inner.required = True
    for add in FACE_ACTIONS:
        add(inner)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="terminal configuration whose [face] section gives the settings "
                             "(default: the kiosk's defaults, as in configs/kiosk.toml)")


def _add_verify(inner: argparse._SubParsersAction) -> None:
    p = inner.add_parser("verify", help="1:1 face distance and match decision for image pairs")
    p.add_argument("--pairs", required=True, metavar="FILE.csv",
                   help="CSV with columns file_a,file_b (paths relative to the CSV's folder)")
    p.add_argument("--json", action="store_true", help="one JSON line per pair")
    p.add_argument("--threshold", type=float, metavar="D",
                   help="match distance (default: face.payment_threshold of the config)")
    _add_config_options(p)
    p.set_defaults(handler=_verify)


def _add_liveness(inner: argparse._SubParsersAction) -> None:
    p = inner.add_parser(
        "liveness", help="liveness checks of videos or images, replay cues included",
        description="Judge recorded clips or stills as the kiosk would, without a challenge: "
                    "spontaneous blink and smile (the proof), head turn and parallax "
                    "(reported), screen/print cues on the face, the optional anti-spoof model, "
                    "and for a video the kiosk's replay cues over every frame (flat face flow, "
                    "drifting flicker bands, moiré at camera resolution), each with what it "
                    "measured and the [face] limit it was judged against. A video is live with "
                    "a blink or smile and no failed screen, print or replay cue; a still never.")
    p.add_argument("files", nargs="+", metavar="FILE", help="video clips or still images")
    p.add_argument("--json", action="store_true",
                   help="one JSON line per file: live, checks (passed, score, detail, "
                        "observed), session_cues (the replay cues' verdict and limits), "
                        "frames, face_frames, fps")
    p.add_argument("--max-frames", type=int, default=300, metavar="N",
                   help="read at most N frames of a video (default 300)")
    p.add_argument("--antispoof-model", metavar="ONNX",
                   help="MiniFASNet ONNX file (default: face.antispoof_model of the config)")
    p.add_argument("--antispoof-sha256", metavar="HEX", help="sha256 of --antispoof-model")
    p.add_argument("--antispoof-scale", type=float, default=2.7, metavar="F",
                   help="face-box crop scale of the model (MiniFASNetV2 2.7, V1SE 4.0)")
    _add_config_options(p)
    p.set_defaults(handler=_liveness)


FACE_ACTIONS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_verify, _add_liveness, face_enroll.add_enroll, face_enroll.add_delete]


def _face_settings(args: argparse.Namespace) -> object:
    """The [face] section of --config, or its defaults."""
    from terminal.config import load_config
    from terminal.config.schema import FaceSection

    if getattr(args, "config", None):
        section = load_config(args.config).face
        if section is not None:
            return section
    return FaceSection()


def _progress(done: int, total: int, what: str) -> None:
    step = max(1, total // 20)
    if done == total or done % step == 0:
        print(f"{what}: {done}/{total}", file=sys.stderr, flush=True)


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """The (file_a, file_b) rows of a pairs CSV; other columns are ignored."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if "file_a" not in fields or "file_b" not in fields:
                raise TerminalError(f"{path}: needs columns file_a,file_b (has {fields})")
            rows = [((r.get("file_a") or "").strip(), (r.get("file_b") or "").strip())
                    for r in reader]
    except FileNotFoundError:
        raise TerminalError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TerminalError(f"{path}: cannot read the pairs: {exc}") from None
    return rows


def _verify(args: argparse.Namespace) -> int:
    from vision.face.embedding import Embedder, NoFaceError, distance, embed_still
    from vision.face.tracker import FaceTracker

    pairs_path = Path(args.pairs)
    rows = read_pairs(pairs_path)
    threshold = args.threshold
    if threshold is None:
        threshold = float(_face_settings(args).payment_threshold)  # type: ignore[attr-defined]
    if not 0.0 < threshold < 2.0:
        raise TerminalError(f"threshold must be between 0 and 2, got {threshold}")
    base = pairs_path.parent
    _check_inputs([base / name if name else Path() for row in rows for name in row],
                  shown=[name for row in rows for name in row])
    embedder = Embedder()
    cache: dict[str, object] = {}  # file -> embedding or the reason it has none (memory only)

    def embedding_of(name: str, tracker: FaceTracker) -> object:
        if name not in cache:
            cache[name] = _embed_file(base, name, embedder, tracker, embed_still, NoFaceError)
        return cache[name]

    matches = 0
    with FaceTracker(mode="image") as tracker:
        for i, (a, b) in enumerate(rows, 1):
            ea, eb = embedding_of(a, tracker), embedding_of(b, tracker)
            record: dict[str, object] = {"file_a": a, "file_b": b}
            if isinstance(ea, str) or isinstance(eb, str):
                reason = "; ".join(dict.fromkeys(e for e in (ea, eb) if isinstance(e, str)))
                record.update(distance=None, match=False, reason=reason)
            else:
                d = distance(ea, eb)  # type: ignore[arg-type]
                record.update(distance=round(d, 4), match=d <= threshold)
            matches += bool(record["match"])
            _emit_pair(record, args.json)
            _progress(i, len(rows), "verify")
    if not args.json:
        print(f"{matches}/{len(rows)} pairs match at threshold {threshold:g}")
    return 0


def _embed_file(base: Path, name: str, embedder: object, tracker: object,
                embed_still: Callable[..., object], no_face: type[Exception]) -> object:
    import cv2

    if not name:
        return "empty file name"
    path = base / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is None:
        return f"cannot read image {name}"
    try:
        return embed_still(image, embedder, tracker)
    except no_face:
        return f"no usable face in {name}"


def _emit_pair(record: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
        return
    if record["distance"] is None:
        print(f"{record['file_a']}  {record['file_b']}  no match ({record['reason']})")
    else:
        verdict = "match" if record["match"] else "no match"
        print(f"{record['file_a']}  {record['file_b']}  {record['distance']:.4f}  {verdict}")


def _liveness(args: argparse.Namespace) -> int:
    from vision.face.clip import analyse_frames
    from vision.face.tracker import FaceTracker

    if args.max_frames < 1:
        raise TerminalError("--max-frames must be >= 1")
    limits = clip_limits(_face_settings(args), session_cues=True)  # type: ignore[arg-type]
    antispoof = _antispoof(args)
    _check_inputs([Path(name) for name in args.files], shown=list(args.files))
    for i, name in enumerate(args.files, 1):
        frames, fps, problem = _read_frames(Path(name), args.max_frames)
        if problem:  # readable a moment ago: it changed under us
            raise TerminalError(f"{name}: {problem}")
        mode = "video" if len(frames) > 1 else "image"
        with FaceTracker(mode=mode) as tracker:
            verdict = analyse_frames(frames, tracker, fps=fps, antispoof=antispoof,
                                     limits=limits)
        record: dict[str, object] = {"file": name, **verdict.as_dict(),
                                     "session_cues": session_summary(verdict.checks, limits),
                                     "fps": round(fps, 2) if mode == "video" else None}
        _emit_liveness(record, args.json)
        _progress(i, len(args.files), "liveness")
    return 0


def clip_limits(settings: FaceSection, *, session_cues: bool = False) -> ClipLimits:
    """The clip checks' limits from a [face] section (the config decides, vision measures);
    ``session_cues``: measure the kiosk's replay cues too, with the section's limits."""
    from vision.face.clip import ClipLimits
    from vision.face.session_cues import SessionCueLimits

    session = SessionCueLimits(
        flat_min_bend=settings.flat_motion_min_bend,
        flat_max_ratio=settings.flat_motion_max_ratio, max_banding=settings.max_banding,
        max_moire=settings.max_screen_moire) if session_cues else None
    return ClipLimits(blink_closed_ratio=settings.clip_blink_closed_ratio,
                      turn_deg=settings.clip_turn_deg,
                      antispoof_min_real=settings.antispoof_min_live,
                      max_moire=settings.max_moire, max_specular=settings.max_specular,
                      min_gamut=settings.min_gamut, session=session)


# The kiosk's replay cues (vision.face.session_cues) as they appear among a clip's checks.
SESSION_CUES = ("flat_motion", "banding", "screen_moire")


def session_summary(checks: dict[str, object], limits: ClipLimits) -> dict[str, object]:
    """The replay cues' verdict for one file: ``measured`` (a video with a face), ``passed``,
    the ``failed`` cues and the ``limits`` they were judged against."""
    found = {k: checks[k] for k in SESSION_CUES if k in checks}
    failed = [k for k, c in found.items() if not c.passed]  # type: ignore[attr-defined]
    session = limits.session
    return {"measured": bool(found), "passed": bool(found) and not failed, "failed": failed,
            "limits": None if session is None else {
                "flat_motion_min_bend": session.flat_min_bend,
                "flat_motion_max_ratio": session.flat_max_ratio,
                "max_banding": session.max_banding, "max_screen_moire": session.max_moire}}


def _antispoof(args: argparse.Namespace) -> object | None:
    from vision.face.antispoof import AntiSpoofModel, AntiSpoofModelSpec

    path, sha, scale = args.antispoof_model, args.antispoof_sha256, args.antispoof_scale
    if path is None:
        settings = _face_settings(args)
        path = getattr(settings, "antispoof_model", "") or None
        sha = getattr(settings, "antispoof_sha256", "")
        scale = float(getattr(settings, "antispoof_crop_scale", scale))
    if not path:
        return None
    if not sha:
        raise TerminalError("--antispoof-model needs --antispoof-sha256 (its checksum)")
    return AntiSpoofModel.load([AntiSpoofModelSpec(path, sha, scale)])


def _input_problem(path: Path) -> str:
    """Why ``path`` cannot be used as an image or a video ("" when it can)."""
    import cv2

    if not path.name:
        return "empty file name"
    if not path.is_file():
        return "file not found"
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    if path.suffix.lower() in VIDEO_SUFFIXES:
        capture = cv2.VideoCapture(str(path))
        try:
            ok, _ = capture.read() if capture.isOpened() else (False, None)
        finally:
            capture.release()
        return "" if ok else "cannot decode the video"
    return "" if cv2.imread(str(path), cv2.IMREAD_COLOR) is not None else \
        "cannot read the image"


def _check_inputs(paths: list[Path], *, shown: list[str]) -> None:
    """Raise one :class:`TerminalError` line naming the unusable inputs, before any verdict."""
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for path, name in zip(paths, shown, strict=True):
        if name in seen:
            continue
        seen.add(name)
        problem = _input_problem(path)
        if problem:
            problems[name or "''"] = problem
    if problems:
        (first, why), more = next(iter(problems.items())), len(problems) - 1
        tail = f" (and {more} more unusable input file{'s' if more > 1 else ''})" if more else ""
        raise TerminalError(f"{first}: {why}{tail}; no verdict given")


def _read_frames(path: Path, max_frames: int) -> tuple[list[object], float, str]:
    """Frames of a video or a one-frame list of an image; a problem string instead of raising."""
    import cv2

    if not path.is_file():
        return [], 0.0, "file not found"
    if path.suffix.lower() in VIDEO_SUFFIXES:
        from hardware.emulated.file_camera import read_video
        from hardware.errors import CameraError

        try:
            frames, fps = read_video(path, limit=max_frames)
        except CameraError:
            return [], 0.0, "cannot decode the video"
        return list(frames), fps or 30.0, ""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return [], 0.0, "cannot read the image"
    return [image], 0.0, ""


def _emit_liveness(record: dict[str, object], as_json: bool) -> None:
    if as_json:
        keys = ("file", "live", "checks", "session_cues", "frames", "face_frames", "fps")
        print(json.dumps({k: record[k] for k in keys if k in record}), flush=True)
        return
    checks = record["checks"]
    assert isinstance(checks, dict)
    failed = [k for k, v in checks.items() if not v["passed"]]
    passed = [k for k, v in checks.items() if v["passed"]]
    verdict = "live" if record["live"] else "NOT live"
    session = record.get("session_cues")
    replay = ""
    if isinstance(session, dict) and session["measured"]:
        replay = ("; replay cues passed" if session["passed"] else
                  f"; replay cues FAILED ({', '.join(session['failed'])})")
    print(f"{record['file']}: {verdict} (passed: {', '.join(passed) or '-'}; "
          f"failed: {', '.join(failed) or '-'}){replay}{_observed_text(checks)}")


def _observed_text(checks: dict[str, dict[str, object]]) -> str:
    """A short readout of the blink and head-turn measurements ("" when there are none)."""
    parts = []
    blink = checks.get("blink", {}).get("observed")
    if isinstance(blink, dict):
        parts.append(f"blinks {blink['count']}, depth {blink['depth']:.2f}")
    turn = checks.get("head_turn", {}).get("observed")
    if isinstance(turn, dict):
        parts.append(f"yaw left {turn['max_yaw_left_deg']:.0f} deg, "
                     f"right {turn['max_yaw_right_deg']:.0f} deg")
    flow = checks.get("flat_motion", {}).get("observed")
    if isinstance(flow, dict) and not flow["pairs"]:
        parts.append("face flow: no frame pairs to compare")
    elif isinstance(flow, dict):
        parts.append(f"face flow: homography leaves {flow['ratio']:.2f} of a bend of "
                     f"{flow['bend']:.3f} over {flow['pairs']} pairs (flat at <= "
                     f"{flow['max_ratio']:g} with a bend >= {flow['min_bend']:g})")
    for name, label in (("banding", "flicker banding"), ("screen_moire", "screen moire")):
        cue = checks.get(name, {})
        seen = cue.get("observed")
        if isinstance(seen, dict):
            parts.append(f"{label} {cue['score']:.2f} over {seen['frames']} frames "
                         f"(limit {seen['limit']:g})")
    return f"; {'; '.join(parts)}" if parts else ""
