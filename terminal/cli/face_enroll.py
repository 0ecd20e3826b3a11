"""`scanpay face enroll` and `scanpay face delete`: Smile-to-Pay templates on the gateway.

Enrollment needs an explicit ``--consent`` plus who gave it, the purpose and the retention
period; frames come from still images or a video (operator-assisted: files cannot answer the
liveness challenge, so the operator vouches for the person in front of them). Only embeddings
are sent; nothing is written to disk. The phone number is sent to the gateway, never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
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
        status = flow.run(_frames(args, clock))
    if status.state is not EnrollState.ENROLLED or status.enrollment is None:
        raise TerminalError(f"enrollment failed: {status.reason or status.prompt}")
    e = status.enrollment
    record = {"enrolled": True, "subject_id": e.subject_id, "enrollment_id": e.enrollment_id,
              "frames": e.frames, "spread": e.spread, "terminal_id": e.terminal_id,
              "expires_at": e.expires_at.isoformat() if e.expires_at else None,
              "consent": {"given_by": consent.given_by, "purpose": consent.purpose,
                          "retention_days": consent.retention_days,
                          "digit_free": consent.digit_free}}
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


def _frames(args: argparse.Namespace, clock: _MediaClock) -> Iterator[Any]:
    from hardware.emulated.file_camera import FileCamera
    from hardware.errors import CameraError
    from hardware.ports import Frame

    if args.images:
        for i, name in enumerate(args.images):
            image = _read_image(Path(name))
            clock.now = float(i)  # one second apart: every still counts as its own frame
            yield Frame(image, clock.now, i)
        return
    try:
        camera = FileCamera(args.video, fps="native", limit=600)
    except CameraError as exc:
        raise TerminalError(f"--video: {exc}") from None
    with camera:
        while (frame := camera.read()) is not None:
            clock.now = frame.timestamp
            yield frame


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
