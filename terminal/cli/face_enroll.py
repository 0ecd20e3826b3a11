"""`scanpay face enroll` and `scanpay face delete`: Smile-to-Pay templates on the gateway.

Enrollment needs an explicit ``--consent`` plus who gave it, the purpose and the retention
period; frames come from still images or a video (operator-assisted: files cannot answer the
liveness challenge, so the operator vouches for the person in front of them). Only embeddings
are sent; nothing is written to disk. The phone number is sent to the gateway, never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terminal.errors import TerminalError

if TYPE_CHECKING:
    import numpy as np


def add_enroll(inner: argparse._SubParsersAction) -> None:
    """Add `face enroll`."""
    p = inner.add_parser(
        "enroll", help="enroll a face for Smile to Pay (needs --consent)",
        description="Send the face template of a consenting person to the payment gateway. "
        "Frames come from images or a video; files cannot answer the liveness challenge, so "
        "this is an operator-assisted enrollment.")
    p.add_argument("--consent", action="store_true", required=True,
                   help="the person has read the consent text and agreed (required)")
    p.add_argument("--given-by", required=True, metavar="NAME", help="who gave the consent")
    p.add_argument("--purpose", default="smile_to_pay", help="what the template is for")
    p.add_argument("--retention-days", type=int, required=True, metavar="DAYS",
                   help="how long the gateway may keep the template (1-3650)")
    p.add_argument("--digit-free", action="store_true",
                   help="also allow paying without digits where the person is a regular")
    _add_account_options(p, "the face is for")
    p.add_argument("--phone", required=True, help="the phone number the account pays with")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", nargs="+", metavar="FILE", help="still images of the face")
    src.add_argument("--video", metavar="FILE", help="a video of the face")
    p.add_argument("--frames", type=int, metavar="N",
                   help="frames to combine (default: face.enroll_frames of the config)")
    _add_backend_options(p)
    p.set_defaults(handler=_enroll)


def add_delete(inner: argparse._SubParsersAction) -> None:
    """Add `face delete`."""
    p = inner.add_parser("delete", help="delete an account's face template (needs the "
                         "holder's payment code)")
    _add_account_options(p, "whose template is deleted")
    _add_backend_options(p)
    p.set_defaults(handler=_delete)


def _add_account_options(p: argparse.ArgumentParser, what: str) -> None:
    account = p.add_mutually_exclusive_group(required=True)
    account.add_argument("--code", metavar="CODE",
                         help="a fresh payment code from the account holder's wallet app: "
                         f"proves the account {what} (the gateway uses it up)")
    account.add_argument("--subject", metavar="ID",
                         help="with --emulator only: the emulator's wallet shows this "
                         "account's payment code")


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--backend", metavar="URL", help="payment gateway base URL")
    where.add_argument("--emulator", action="store_true",
                       help="use a reference back end started for this command (its data "
                       "lasts only as long as [emulator].database says)")
    p.add_argument("--api-key", metavar="KEY", help="this terminal's API key (with --backend)")
    p.add_argument("--config", metavar="FILE",
                   help="terminal configuration (default: the embedded kiosk defaults)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _enroll(args: argparse.Namespace) -> int:
    from payments.clients.face import Consent
    from terminal.config.schema import FaceSection
    from terminal.kiosk.enroll import EnrollState, FaceEnrollment, consent_text
    from terminal.kiosk.face_sensor import VisionFaceSensor

    config = _config(args)
    face = config.face or FaceSection()
    frames_needed = args.frames if args.frames is not None else face.enroll_frames
    if not 3 <= frames_needed <= 20:
        raise TerminalError("--frames must be between 3 and 20 (the gateway's limits)")
    face = replace(face, enroll_frames=frames_needed)
    consent = Consent(given_by=args.given_by, purpose=args.purpose,
                      retention_days=args.retention_days, given_at=datetime.now(UTC),
                      digit_free=args.digit_free)
    if not args.json:
        print("consent: " + consent_text(consent.purpose, consent.retention_days,
                                         digit_free=consent.digit_free))
    clip = _read_clip(args.video, frames_needed) if args.video else None
    clock = _MediaClock()
    with ExitStack() as stack:
        client, emulator = _connect(args, config, stack)
        faces = stack.enter_context(client)
        mode = "image" if args.images else "video"
        sensor = VisionFaceSensor(face, clock=clock, tracker_mode=mode)
        stack.callback(sensor.close)
        flow = FaceEnrollment(sensor=sensor, faces=faces, face=face,
                              terminal_id=config.terminal.id, clock=clock,
                              require_liveness=False)
        flow.give_consent(consent, payment_code=_account_code(args, emulator), phone=args.phone)
        status = flow.run(_frames(args, clock, clip))
    if status.state is not EnrollState.ENROLLED or status.enrollment is None:
        where = ""
        if clip is not None:
            where = f"; the video has {clip.describe()}" + (
                f", read {clip.reads} times" if clip.reads > 1 else "")
        raise TerminalError(f"enrollment failed: {status.reason or status.prompt}{where}")
    e = status.enrollment
    record = {"enrolled": True, "subject_id": e.subject_id, "enrollment_id": e.enrollment_id,
              "frames": e.frames, "spread": e.spread, "terminal_id": e.terminal_id,
              "expires_at": e.expires_at.isoformat() if e.expires_at else None,
              "consent": {"given_by": consent.given_by, "purpose": consent.purpose,
                          "retention_days": consent.retention_days,
                          "digit_free": consent.digit_free}}
    if clip is not None:
        record["video"] = {"frames": len(clip.frames), "seconds": round(clip.seconds, 3),
                           "fps": round(clip.fps, 3), "reads": clip.reads}
    _print(record, args.json, f"enrolled {e.subject_id}: {e.frames} frames "
           f"(enrollment {e.enrollment_id}, kept until {record['expires_at']})")
    return 0


def _delete(args: argparse.Namespace) -> int:
    config = _config(args)
    with ExitStack() as stack:
        client, emulator = _connect(args, config, stack)
        faces = stack.enter_context(client)
        d = faces.delete(payment_code=_account_code(args, emulator))
    record = {"deleted": True, "subject_id": d.subject_id, "enrollment_id": d.enrollment_id,
              "templates_deleted": d.templates_deleted,
              "deleted_at": d.deleted_at.isoformat() if d.deleted_at else None}
    _print(record, args.json, f"deleted {d.templates_deleted} face template(s) of "
           f"{d.subject_id} (enrollment {d.enrollment_id}) at {record['deleted_at']}")
    return 0


# -- helpers --------------------------------------------------------------------------------


class _MediaClock:
    """Time of the frame being enrolled (frames carry their own timestamps)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _config(args: argparse.Namespace) -> Any:
    from terminal.config import default_config_path, load_config

    return load_config(args.config or default_config_path("kiosk"))


def _connect(args: argparse.Namespace, config: Any, stack: ExitStack) -> tuple[Any, Any]:
    """The face client, and the emulator when one was started for this command."""
    from payments.clients.face import FaceClient
    from payments.clients.http import ServiceSettings

    if args.emulator:
        import tempfile

        from terminal.emulator.session import Emulator

        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="scanpay-face-"))
        emulator = stack.enter_context(Emulator(config, state_dir=Path(tmp)))
        return FaceClient(emulator.endpoints().gateway), emulator
    if not args.api_key:
        raise TerminalError("--backend needs --api-key")
    try:
        settings = ServiceSettings.from_section(config.gateway, url=args.backend)
        settings = ServiceSettings(
            url=settings.url, api_key=args.api_key, connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s, max_retries=settings.max_retries,
            backoff_base_s=settings.backoff_base_s, backoff_max_s=settings.backoff_max_s)
    except ValueError as exc:
        raise TerminalError(f"--backend: {exc}") from None
    return FaceClient(settings), None


def _account_code(args: argparse.Namespace, emulator: Any) -> str:
    """The payment code proving the account: given, or shown by the emulator's wallet."""
    if args.code:
        return str(args.code)
    if emulator is None:
        raise TerminalError("--subject works only with --emulator; with --backend give the "
                            "account holder's --code")
    from terminal.emulator.session import EmulatorError

    try:
        return str(emulator.wallet_code(args.subject))
    except EmulatorError as exc:
        raise TerminalError(f"--subject {args.subject}: {exc}") from None


def _frames(args: argparse.Namespace, clock: _MediaClock,
            clip: EnrollClip | None) -> Iterator[Any]:
    from hardware.ports import Frame

    if args.images:
        for i, name in enumerate(args.images):
            image = _read_image(Path(name))
            clock.now = float(i)  # one second apart: every still counts as its own frame
            yield Frame(image, clock.now, i)
        return
    assert clip is not None
    for i, (image, timestamp) in enumerate(clip.replay()):
        clock.now = timestamp
        yield Frame(image, timestamp, i)


# Longest video read for an enrollment (frames); a longer one is cut here.
MAX_CLIP_FRAMES = 600
# A short clip is read again (each time from a later frame) at most this often.
MAX_CLIP_READS = 10


@dataclass(frozen=True)
class EnrollClip:
    """A video held in memory for enrollment, and how often it is read to give enough frames.

    The enrollment keeps frames at least ``gap_s`` apart (a live camera's frames a moment apart
    are nearly the same picture). A clip shorter than ``needed`` such frames is read ``reads``
    times, each read starting one step further into the clip so other frames are offered, with
    time running on across reads.
    """

    frames: tuple[np.ndarray, ...]
    fps: float
    reads: int

    @property
    def seconds(self) -> float:
        """The clip's length."""
        return len(self.frames) / self.fps

    def describe(self) -> str:
        """``"12 frames (0.40 s at 30 fps)"``."""
        return f"{len(self.frames)} frames ({self.seconds:.2f} s at {self.fps:g} fps)"

    def replay(self) -> Iterator[tuple[np.ndarray, float]]:
        """(image, media time) of every read, one after the other."""
        n = len(self.frames)
        for r in range(self.reads):
            start = (r * n) // self.reads
            for k in range(n):
                yield self.frames[(start + k) % n], (r * n + k) / self.fps


def clip_reads(frames: int, fps: float, needed: int, gap_s: float) -> int:
    """How often a clip of ``frames`` at ``fps`` is read to offer ``needed`` frames at least
    ``gap_s`` apart: 1 for a long enough clip; a short one once more than that needs, so a
    frame the quality gates refuse can be made up (at most :data:`MAX_CLIP_READS`)."""
    if frames <= 0:
        return 1
    step = max(1, math.ceil(gap_s * fps - 1e-9))  # frames between two kept ones
    per_read = (frames - 1) // step + 1
    if per_read >= needed:
        return 1
    return min(MAX_CLIP_READS, -(-needed // per_read) + 1)


def _read_clip(name: str, needed: int) -> EnrollClip:
    """The video in memory; a clip with fewer frames than ``needed`` is refused with its
    length."""
    from hardware.emulated.file_camera import read_video
    from hardware.errors import CameraError
    from terminal.kiosk.enroll import MIN_FRAME_GAP_S

    path = Path(name)
    if not path.is_file():
        raise TerminalError(f"--video: {name}: file not found")
    try:
        images, fps = read_video(path, limit=MAX_CLIP_FRAMES)
    except CameraError as exc:
        raise TerminalError(f"--video: {exc}") from None
    fps = fps if fps and fps > 0 else 30.0
    clip = EnrollClip(tuple(images), fps, 1)
    if len(images) < needed:
        raise TerminalError(
            f"--video: the clip is too short: {clip.describe()}; enrollment combines {needed} "
            f"frames of the face, so it needs at least {needed} frames (a clip of "
            f"{needed * MIN_FRAME_GAP_S:.2f} s or more gives different ones)")
    return EnrollClip(clip.frames, fps, clip_reads(len(images), fps, needed, MIN_FRAME_GAP_S))


def _read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is None:
        raise TerminalError(f"cannot read image {path}")
    return image


def _print(record: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        json.dump(record, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(text)
