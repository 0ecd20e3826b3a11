"""Typed, frozen configuration of a terminal. Field defaults are the embedded defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from payments.fare import FareRules
from payments.policy import DepositRules
from vision.face.quality import QualityLimits

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
    # Total budget of one call including retries; 0 means connect + read timeout.
    deadline_s: float = 0.0
    # Sign every request (HMAC, fresh nonce, five-minute window): needed when the back end
    # serves with --require-signatures; the back end checks a signature whenever one is sent.
    sign_requests: bool = False

    def __post_init__(self) -> None:
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")


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
    # gpio: a fuel gauge's charge in percent, e.g. "/sys/class/power_supply/<name>/capacity"
    # (a UPS board's kernel driver); "" = no gauge, the battery is not checked.
    battery_path: str = ""
    # Below this charge (percent) the unit shows low battery and starts no new ride; rides
    # under way still end and settle.
    low_battery_pct: float = 15.0
    # emulated: the battery's charge at start (percent; unset = no gauge) and how many points
    # it loses per unlock, per ride and per hour.
    battery_pct: float | None = None
    drain_per_unlock_pct: float = 0.05
    drain_per_ride_pct: float = 0.5
    drain_per_hour_pct: float = 0.1
    # emulated: where the bike stands (WGS84 degrees; unset = no position), drifting a little
    # during rides. A real lock reports no position (no GNSS port yet).
    lat: float | None = None
    lon: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.low_battery_pct <= 100:
            raise ValueError("lock.low_battery_pct must be between 0 and 100 (percent)")
        if self.battery_pct is not None and not 0 <= self.battery_pct <= 100:
            raise ValueError("lock.battery_pct must be between 0 and 100 (percent)")
        if min(self.drain_per_unlock_pct, self.drain_per_ride_pct,
               self.drain_per_hour_pct) < 0 or max(self.drain_per_unlock_pct,
                                                   self.drain_per_ride_pct,
                                                   self.drain_per_hour_pct) > 100:
            raise ValueError("lock.drain_per_*_pct must be between 0 and 100 (points)")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lock.lat and lock.lon: give both or neither")
        if self.lat is not None and self.lon is not None and not (
                -90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError("lock.lat must be -90..90 and lock.lon -180..180 (degrees)")


@dataclass(frozen=True)
class IndicatorSection:
    """Status light and buzzer."""

    kind: Literal["emulated", "gpio"] = "emulated"
    # gpio: BCM pin numbers.
    green_pin: int = 5
    red_pin: int = 6
    buzzer_pin: int = 13


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
    # A ride longer than this is reported as a late return (ride.ended on_time=false).
    on_time_limit_h: float = 24.0


@dataclass(frozen=True)
class EmulatorSection:
    """The reference back end run on loopback for development and the demo."""

    enabled: bool = True
    host: str = "127.0.0.1"
    # 0 picks a free port.
    port: int = 0
    # The back end's store: "" a SQLite file in the state folder; a path; a postgresql:// URL;
    # or "postgresql" for a private PostgreSQL server started and removed with the session.
    database: str = ""
    # Secret the back end signs payment codes with (development only).
    signing_seed_hex: str = "5ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9"
    # Start a mosquitto and the back end's fleet bridge (when mosquitto is installed) and
    # connect the unit's fleet link to it: heartbeats, alarms, events and remote commands.
    mqtt: bool = False


@dataclass(frozen=True)
class KioskSection:
    """The ordering kiosk's screen, menu, prices and timers."""

    # Menu catalogue file (TOML); "" uses the embedded example menu.
    menu: str = ""
    # Tax in basis points (600 = 6%); included = menu prices already contain it.
    tax_rate_bp: int = 600
    tax_included: bool = True
    # The customer's page is served here (loopback only: Chromium on the device opens it).
    host: str = "127.0.0.1"
    port: int = 8080
    # First language on the attract screen: "zh" or "en" (the customer switches on any screen).
    language: Literal["zh", "en"] = "zh"
    # Idle timers: "still there?" after idle_s without a tap, back to the start (voiding the
    # order) still_there_s later; the receipt screen returns to the start after receipt_s.
    idle_s: float = 60.0
    still_there_s: float = 15.0
    receipt_s: float = 20.0
    # The dynamic merchant QR stays payable this long; the gateway is asked this often.
    qr_expiry_s: int = 120
    qr_poll_s: float = 1.0
    # Staff screen PIN (4-8 digits); "" keeps the staff screen closed.
    staff_pin: str = ""
    # Receipt QR: a URL with {order_id} (the operator's receipt page), or "" for the receipt
    # itself as text, which any phone camera shows without a network.
    receipt_url: str = ""
    merchant_name: str = "ScanPay Kitchen"

    def __post_init__(self) -> None:
        if not 0 <= self.tax_rate_bp <= 5000:
            raise ValueError("kiosk.tax_rate_bp: expected 0..5000 (0% to 50%)")
        if not 0 <= self.port <= 65535:
            raise ValueError("kiosk.port: expected 0..65535")
        if self.staff_pin and not (self.staff_pin.isascii() and self.staff_pin.isdigit()
                                   and 4 <= len(self.staff_pin) <= 8):
            raise ValueError("kiosk.staff_pin: expected 4 to 8 digits, or \"\" for no staff screen")
        if min(self.idle_s, self.still_there_s, self.receipt_s, self.qr_poll_s) <= 0:
            raise ValueError("kiosk: idle_s, still_there_s, receipt_s and qr_poll_s must be > 0")
        if not 30 <= self.qr_expiry_s <= 3600:
            raise ValueError("kiosk.qr_expiry_s: expected 30..3600 seconds")
        if self.receipt_url and "{order_id}" not in self.receipt_url:
            raise ValueError("kiosk.receipt_url: must contain {order_id}")


@dataclass(frozen=True)
class MetricsSection:
    """The unit's Prometheus text endpoint (``/metrics``)."""

    enabled: bool = False
    # Loopback by default: a scraper on the unit (or an SSH tunnel) reads it; set "0.0.0.0"
    # only on a trusted network.
    host: str = "127.0.0.1"
    port: int = 9464

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("metrics.port: expected 0..65535")
        if not self.host.strip():
            raise ValueError("metrics.host: must not be empty")


@dataclass(frozen=True)
class FleetSection:
    """The unit's link to the operator's MQTT broker (heartbeats, events, remote commands)."""

    # "mqtts://host:8883" (TLS) or "mqtt://host:1883"; "" = no fleet link. The user name and
    # client id are terminal.id.
    mqtt_url: str = ""
    # A file holding this device's MQTT password (mode 0600); "" reads SCANPAY_MQTT_PASSWORD.
    device_password_file: str = ""
    # mqtts: CA bundle to trust ("" = the system's).
    ca_file: str = ""
    # Heartbeat (and position) every this many seconds; the operator may change it remotely.
    heartbeat_s: int = 60
    keepalive_s: int = 60
    # Reconnect backoff: doubles from the first to the second value.
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0
    # Send the outbox's events over MQTT ("mqtt") or keep the HTTPS uploader ("https").
    events: Literal["mqtt", "https"] = "mqtt"

    def __post_init__(self) -> None:
        if self.mqtt_url and not self.mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise ValueError("fleet.mqtt_url: expected mqtt://host[:port] or mqtts://host[:port]")
        if not 10 <= self.heartbeat_s <= 3600:
            raise ValueError("fleet.heartbeat_s: expected 10..3600 seconds")
        if not 5 <= self.keepalive_s <= 3600:
            raise ValueError("fleet.keepalive_s: expected 5..3600 seconds")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s <= 3600:
            raise ValueError("fleet: expected 0 < reconnect_min_s <= reconnect_max_s <= 3600")


@dataclass(frozen=True)
class Config:
    """A whole terminal configuration file."""

    terminal: TerminalSection
    score_service: ServiceSection = field(default_factory=ServiceSection)
    gateway: ServiceSection = field(default_factory=ServiceSection)
    deposit: DepositRules = field(default_factory=DepositRules)
    fare: FareRules = field(default_factory=FareRules)
    camera: CameraSection = field(default_factory=CameraSection)
    lock: LockSection = field(default_factory=LockSection)
    indicator: IndicatorSection = field(default_factory=IndicatorSection)
    scan: ScanSection = field(default_factory=ScanSection)
    outbox: OutboxSection = field(default_factory=OutboxSection)
    ride: RideSection = field(default_factory=RideSection)
    emulator: EmulatorSection | None = None
    face: FaceSection | None = None
    smile: SmileSection | None = None
    kiosk: KioskSection | None = None
    metrics: MetricsSection = field(default_factory=MetricsSection)
    fleet: FleetSection = field(default_factory=FleetSection)

    def __post_init__(self) -> None:
        if self.emulator is None or not self.emulator.enabled:
            for name, svc in (("score_service", self.score_service), ("gateway", self.gateway)):
                if not svc.url:
                    raise ValueError(f"{name}.url: required unless [emulator] is enabled")


FaceChallenge = Literal["smile", "blink", "turn_left", "turn_right"]


@dataclass(frozen=True)
class FaceSection:
    """Smile to Pay face capture: match threshold, quality gates, liveness challenge."""

    # Embedding distance at or below which a probe matches a template (face_recognition scale).
    payment_threshold: float = 0.38
    # Frames whose embeddings are combined into an enrollment template / a payment probe.
    enroll_frames: int = 5
    probe_frames: int = 3
    # Embed each frame and its mirror image and average them: 93.9% of genuine LFW dev pairs
    # accepted at 0.38 instead of 90.9% (both with 0 of 900 false accepts), at twice the
    # embedding cost (about 147 ms instead of 74 ms per frame here). A Pi may turn it off;
    # enrolling and paying terminals should use the same setting.
    mirror_pass: bool = True
    # Probe frames are the first quality-passed frames of the liveness session, at least
    # `probe_spacing_s` apart; `embed_workers` processes embed them while the customer answers
    # the challenge (0 = embed in the kiosk's own process after the challenge, ~0.45 s later
    # here). A Pi 4 has four cores: 1-2 workers.
    probe_spacing_s: float = 0.1
    embed_workers: int = 1
    # Identity continuity: after the probe frames, a frame every `check_spacing_s` until the
    # challenge ends is embedded and compared with the probe; a distance above
    # `continuity_max_distance` means the face changed (a photo first, a person swapped in)
    # and the attempt ends as a suspected spoof. Same-person frames of one session stay below
    # ~0.46 even turned 40 degrees at 33 px between the eyes (docs/face.md).
    check_spacing_s: float = 0.4
    continuity_max_distance: float = 0.45
    # Quality gates before any embedding ([face.quality]): face size, pose, sharpness,
    # exposure, one face only — see vision.face.quality.QualityLimits.
    quality: QualityLimits = field(default_factory=QualityLimits)
    # Randomised liveness challenge: drawn from `challenges`, `challenge_steps` in a row, each
    # answered within `challenge_window_s`; the whole attempt gives up after `session_timeout_s`.
    challenges: tuple[FaceChallenge, ...] = ("smile", "blink", "turn_left", "turn_right")
    challenge_steps: int = 2
    challenge_window_s: float = 4.0
    session_timeout_s: float = 20.0
    # Show the first prompt at once and measure the neutral baseline during the customer's
    # reaction time (saves ~0.4 s per decision; early movement only makes an action harder).
    prompt_during_baseline: bool = True
    # Optional ONNX anti-spoofing model (e.g. MiniFASNet) and its sha256; "" = not used.
    antispoof_model: str = ""
    antispoof_sha256: str = ""
    # Crop around the face the model expects (MiniFASNetV2: 2.7, MiniFASNetV1SE: 4.0).
    antispoof_crop_scale: float = 2.7
    antispoof_min_live: float = 0.5
    # Recorded clips (`scanpay face liveness`, `scanpay bench face`): the eye openness, over the
    # person's own open level, at or below which a clip shows a blink (dev blink clips reach
    # 0.06-0.81, no-blink clips stay >= 0.88), and the degrees of yaw from the clip's median
    # pose, held 2 frames, that count as a head turn (the 5 dev head-turn videos reach 47-69).
    # Derivation in docs/face.md.
    clip_blink_closed_ratio: float = 0.85
    clip_turn_deg: float = 15.0
    # Screen and print cues on the face (vision.face.passive), checked once per challenge.
    max_moire: float = 2.6
    max_specular: float = 0.12
    min_gamut: float = 2.0
    # Replayed videos (vision.face.session_cues, measured over the whole challenge; limits
    # re-derived by `scanpay bench face --only replay`, docs/face.md). The face's image flow is
    # "flat" -- a screen or photo tilted to fake a head turn -- when it bent by at least
    # `flat_motion_min_bend` face widths and a homography leaves at most `flat_motion_max_ratio`
    # of that bend; a screen's drifting flicker bands and its moiré veto above their limits.
    # Dev footage (59 genuine challenges): flow ratio 0.79-0.97, banding 0.81-2.19, moiré
    # 1.04-1.32; rendered replays that answered the challenge: banding 2.97-9.9.
    flat_motion_min_bend: float = 0.01
    flat_motion_max_ratio: float = 0.55
    max_banding: float = 2.6
    max_screen_moire: float = 1.6

    def __post_init__(self) -> None:
        if not 0.0 < self.clip_blink_closed_ratio < 1.0:
            raise ValueError("face.clip_blink_closed_ratio must be between 0 and 1")
        if not 0.0 < self.clip_turn_deg < 90.0:
            raise ValueError("face.clip_turn_deg must be between 0 and 90 degrees")
        if not (self.flat_motion_min_bend > 0 and 0 < self.flat_motion_max_ratio < 1
                and self.max_banding > 0 and self.max_screen_moire > 0 and self.max_moire > 0
                and 0 < self.max_specular <= 1 and self.min_gamut >= 0):
            raise ValueError("face: flat_motion_min_bend, max_banding, max_screen_moire and "
                             "max_moire must be > 0, flat_motion_max_ratio and max_specular "
                             "between 0 and 1, min_gamut >= 0")
        if not 0.0 < self.payment_threshold < 2.0:
            raise ValueError("face.payment_threshold must be between 0 and 2")
        if self.enroll_frames < 1 or self.probe_frames < 1 or self.challenge_steps < 1:
            raise ValueError("face: enroll_frames, probe_frames and challenge_steps must be >= 1")
        if self.probe_spacing_s < 0 or not 0 <= self.embed_workers <= 8:
            raise ValueError("face: probe_spacing_s must be >= 0 and embed_workers 0..8")
        if self.check_spacing_s <= 0 or not 0.0 < self.continuity_max_distance < 2.0:
            raise ValueError("face: check_spacing_s must be > 0 and continuity_max_distance "
                             "between 0 and 2")
        turns = {"turn_left", "turn_right"} & set(self.challenges)
        expressions = {"smile", "blink"} & set(self.challenges)
        if not turns or not expressions:
            raise ValueError("face.challenges: list a head turn and a smile or blink")
        if not 2 <= self.challenge_steps <= len(expressions) + 1:
            raise ValueError(f"face.challenge_steps: 2..{len(expressions) + 1} for these "
                             "challenges (one head turn plus expressions)")
        if self.challenge_window_s <= 0 or self.session_timeout_s <= 0:
            raise ValueError("face: challenge_window_s and session_timeout_s must be positive")
        if self.antispoof_model and len(self.antispoof_sha256) != 64:
            raise ValueError("face.antispoof_sha256: the model needs its 64-hex-digit sha256")


@dataclass(frozen=True)
class SmileSection:
    """Smile to Pay risk rule: how many phone digits to ask (see payments.smile_policy)."""

    # False-match rate per comparison at face.payment_threshold (re-measure if it changes);
    # about 1 in 860 over all 2.7 million dev-image pairs of different people at 0.38.
    fmr_at_threshold: float = 1.2e-3
    # Highest expected number of false matches accepted for one payment.
    # At 1.2e-3 per comparison, 5e-3 allows up to 4 candidates: last four digits only when
    # at most 4 enrolled accounts share them, no digits only with at most 4 regulars here.
    false_match_budget: float = 5e-3
    currency: str = "CNY"
    # Order limits in minor units: no digits up to, last four up to, face payment at all up to.
    no_digits_max_minor: int = 3000
    last4_max_minor: int = 20000
    max_order_minor: int = 100000
    # Seconds the customer has to type the digits.
    digits_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fmr_at_threshold < 1.0 or not 0.0 < self.false_match_budget < 1.0:
            raise ValueError("smile: fmr_at_threshold and false_match_budget must be in (0, 1)")
        if min(self.no_digits_max_minor, self.last4_max_minor, self.max_order_minor) < 0:
            raise ValueError("smile: order limits must be >= 0")
        if self.digits_timeout_s <= 0:
            raise ValueError("smile.digits_timeout_s must be positive")
