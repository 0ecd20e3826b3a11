"""What the dev panel can put in front of the emulated camera, and how a choice is applied."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware.emulated.file_camera import IMAGE_SUFFIXES
from hardware.emulated.switchable_camera import CameraView, SwitchableCamera
from hardware.errors import CameraError
from terminal.errors import TerminalError
from terminal.shared_data import shared_root

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
SOURCES = ("nothing", "code", "clip", "customer", "photo", "screen", "image")


class SourceError(TerminalError):
    """A camera choice the panel cannot apply (unknown person, missing file, bad source)."""


@dataclass(frozen=True)
class Clip:
    """A face clip found under the shared data, named by its path below the clips folder."""

    name: str
    path: Path


def faces_video_dir(root: Path | None = None) -> Path:
    """``$SCANPAY_SHARED/data/faces/video`` (may be absent)."""
    return shared_root(root) / "data" / "faces" / "video"


def find_clips(folder: Path) -> list[Clip]:
    """Every video under ``folder``, by name; empty when the folder is absent."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    return [Clip(p.relative_to(folder).as_posix(), p) for p in sorted(found)]


class CameraDesk:
    """Applies panel choices to the camera: a person's fresh code, a clip, an attack, an image."""

    def __init__(self, camera: SwitchableCamera, *, wallet_code: Callable[[str], str],
                 subjects: list[dict[str, Any]], clips: list[Clip]) -> None:
        self.camera = camera
        self._wallet_code = wallet_code
        self.subjects = subjects
        self.clips = clips
        self._clips = {clip.name: clip.path for clip in clips}
        self._customer_view: int | None = None  # serial of the view that is a customer

    def customer_in_view(self) -> bool:
        """True while the camera shows a clip played as a customer who answers prompts."""
        return self._customer_view is not None and self.camera.view.serial == self._customer_view

    def apply(self, choice: Mapping[str, str]) -> CameraView:
        """Switch the camera to ``source`` (with its ``subject``, ``clip`` or ``path``)."""
        source = (choice.get("source") or "").strip()
        try:
            if source == "nothing":
                return self.camera.show_nothing()
            if source == "code":
                return self._code((choice.get("subject") or "").strip())
            if source == "clip":
                path = self.media(choice, "a clip")
                return self.camera.show_clip(path, label=f"face clip {self._name(path)}")
            if source == "customer":
                path = self.media(choice, "a clip")
                view = self.camera.show_clip(path, label=f"a customer with the face of "
                                             f"{self._name(path)}, answering the prompts")
                self._customer_view = view.serial
                return view
            if source in ("photo", "screen"):
                return self._held(source, self.media(choice, "a clip or a photo"))
            if source == "image":
                path = self._path(choice.get("path"), "an image file")
                return self.camera.show_image(path, label=f"image {path.name}")
        except CameraError as exc:
            raise SourceError(str(exc)) from None
        raise SourceError(f"unknown camera source {source!r} (choose from {', '.join(SOURCES)})")

    def subject(self, subject: str) -> str:
        """``subject`` if it is a seeded person; SourceError naming the choices otherwise."""
        known = [s["subject_id"] for s in self.subjects]
        if subject not in known:
            raise SourceError(f"unknown person {subject!r} (choose from {', '.join(known)})")
        return subject

    def _code(self, subject: str) -> CameraView:
        code = self._wallet_code(self.subject(subject))
        return self.camera.show_code(code, label=f"{subject}'s phone showing a fresh payment code")

    def _held(self, source: str, path: Path) -> CameraView:
        from hardware.emulated.file_camera import read_video

        if path.suffix.lower() in IMAGE_SUFFIXES:
            image: Any = path
        else:
            frames, _ = read_video(path, limit=1)
            image = frames[0]
        what = "a printed photo" if source == "photo" else "a phone screen showing a photo"
        return self.camera.show_held(image, "print" if source == "photo" else "screen",
                                     label=f"{what} of {self._name(path)}")

    def media(self, choice: Mapping[str, str], what: str) -> Path:
        """The file a choice names: a listed ``clip`` by name, else a ``path``."""
        name = (choice.get("clip") or "").strip()
        if name:
            if name not in self._clips:
                raise SourceError(f"unknown clip {name!r}")
            return self._clips[name]
        return self._path(choice.get("path"), what)

    def _path(self, text: str | None, what: str) -> Path:
        text = (text or "").strip()
        if not text:
            raise SourceError(f"give {what}: a name from the list or a file path")
        path = Path(text).expanduser()
        if not path.is_file():
            raise SourceError(f"file not found: {text}")
        return path

    def _name(self, path: Path) -> str:
        for name, known in self._clips.items():
            if known == path:
                return name
        return path.name
