"""Typed, frozen configuration of a terminal. Field defaults are the embedded defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from payments.fare import FareRules

Role = Literal["bike-lock", "kiosk"]


@dataclass(frozen=True)
class TerminalSection:
    """Who this device is and where it keeps its state."""

    id: str
    role: Role
    # Folder for the SQLite outbox and local state; "" means a fresh temporary folder.
    state_dir: str = ""

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise ValueError("terminal.id: must not be empty")


@dataclass(frozen=True)
class ServiceSection:
    """How to reach one back-end service (score service or payment gateway)."""

    # Base URL, e.g. "https://score.example.com". Empty when [emulator] provides the service.
    url: str = ""
    api_key: str = ""
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    # Retries for idempotent calls (after the first attempt).
    max_retries: int = 2
    backoff_base_s: float = 0.2
    backoff_max_s: float = 2.0

    def __post_init__(self) -> None:
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")


@dataclass(frozen=True)
class DepositSection:
    """When a ride needs a deposit. Amounts are integer minor units (fen for CNY)."""

    amount_minor: int = 19900
    currency: str = "CNY"
    # A score at or above this waives the deposit.
    waive_at_score: int = 650
    # Scores below this are declined outright (0 = never decline on score alone).
    decline_below_score: int = 0
    # Restrictions reported by the score service that decline the ride.
    decline_restrictions: tuple[str, ...] = ("court_blacklist",)
    # What to do when the score service cannot be reached in time.
    offline_rule: Literal["require_deposit", "decline", "waive"] = "require_deposit"


@dataclass(frozen=True)
class CameraSection:
    """Which camera backend delivers frames."""

    kind: Literal["synthetic", "file", "opencv", "picamera"] = "synthetic"
    # file: an image, a folder of images or a video file.
    path: str = ""
    # opencv: the device index.
    device: int = 0
    width: int = 640
    height: int = 480
    fps: float = 15.0


@dataclass(frozen=True)
class LockSection:
    """Which lock backend drives the latch."""

    kind: Literal["emulated", "gpio"] = "emulated"
    # gpio: BCM pin numbers of the relay output and the latch switch input.
    relay_pin: int = 17
    latch_pin: int = 27
    # Seconds the latch switch must be stable before a change counts.
    debounce_s: float = 0.05
    # Seconds the relay is held to release the latch.
    unlock_pulse_s: float = 1.0


@dataclass(frozen=True)
class ScanSection:
    """Payment-code scanning on the camera."""

    # Per-frame time budget of the QR decoder cascade.
    budget_ms: float = 30.0
    # Frames in a row that must show the same code before it counts.
    confirm_frames: int = 1
    # Give up waiting for a code after this many seconds.
    timeout_s: float = 30.0


@dataclass(frozen=True)
class OutboxSection:
    """Durable event outbox and its uploader."""

    batch_size: int = 100
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0


@dataclass(frozen=True)
class RideSection:
    """Bike-lock flow timing."""

    # Seconds the rider has to pull the bike out after unlock before the unit relocks.
    unlock_window_s: float = 60.0


@dataclass(frozen=True)
class EmulatorSection:
    """The reference back end run on loopback for development and the demo."""

    enabled: bool = True
    host: str = "127.0.0.1"
    # 0 picks a free port.
    port: int = 0
    # SQLite file of the back end; "" keeps it in the state folder.
    database: str = ""
    # Secret the back end signs payment codes with (development only).
    signing_seed_hex: str = "5ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9"


@dataclass(frozen=True)
class Config:
    """A whole terminal configuration file."""

    terminal: TerminalSection
    score_service: ServiceSection = field(default_factory=ServiceSection)
    gateway: ServiceSection = field(default_factory=ServiceSection)
    deposit: DepositSection = field(default_factory=DepositSection)
    fare: FareRules = field(default_factory=FareRules)
    camera: CameraSection = field(default_factory=CameraSection)
    lock: LockSection = field(default_factory=LockSection)
    scan: ScanSection = field(default_factory=ScanSection)
    outbox: OutboxSection = field(default_factory=OutboxSection)
    ride: RideSection = field(default_factory=RideSection)
    emulator: EmulatorSection | None = None

    def __post_init__(self) -> None:
        if self.emulator is None or not self.emulator.enabled:
            for name, svc in (("score_service", self.score_service), ("gateway", self.gateway)):
                if not svc.url:
                    raise ValueError(f"{name}.url: required unless [emulator] is enabled")
