"""A replayed-video attack: a recorded clip played on a phone or a monitor held up to the camera.

Each frame of the clip is shown on an emulated screen (a flat plane held by a hand in front of
the kiosk camera) and rendered through a pinhole camera with the artefacts a camera filming a
screen picks up:

* **perspective and tremor** -- the screen is one rigid plane; a smooth random walk of its pose
  (a hand's tremor) plus any deliberate tilt the attacker adds (to fake a head turn);
* **bezel and hand** -- the dark frame around the panel, rounded corners, fingers over the edge;
* **moiré** -- the panel's RGB sub-pixel grid sampled by the camera's pixels: evaluated at every
  camera pixel centre through the plane's homography, so it aliases into low-frequency colour
  beats whose strength falls as one camera pixel spans more panel pixels (farther away);
* **rolling banding** -- the backlight's PWM flicker read out row by row by a rolling shutter:
  horizontal bright/dark bands that drift from frame to frame;
* **display transfer** -- the panel's black level, contrast, gamma and white point;
* **glare** -- a room light reflected in the glass, moving as the screen tilts;
* sensor noise over a synthetic room.

Everything is deterministic by ``seed``. The renderer draws attack frames for the emulator and
the benchmarks; nothing in the kiosk's runtime path imports it. Its effect sizes come from the
physics of each artefact with round device figures (a 6.1-inch phone, a 24-inch monitor), not
from the detectors that look for them; real replays must still be measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hardware.emulated import held_plane
from terminal.errors import TerminalError

Device = Literal["phone", "monitor"]

_FOCAL = 1.1  # camera focal length as a multiple of the frame width (about 49 degrees)
_READOUT_ROWS_PER_S = 16000.0  # rolling shutter: 480 rows read in 30 ms
_SENSOR_NOISE = 2.0
# Tremor of a hand holding a screen up, at its steadiest effort: yaw, pitch, roll (degrees),
# x, y (fractions of the frame), depth (fraction of the distance).
_TREMOR = np.array([2.5, 2.5, 1.5, 0.008, 0.008, 0.02])
_TREMOR_SMOOTHING = 0.85


@dataclass(frozen=True)
class ScreenSpec:
    """An emulated display, held in landscape.

    Sizes in metres; ``pitch_m`` is the panel's pixel pitch; ``pwm_hz``/``pwm_depth`` the
    backlight flicker (0 = none); ``black``/``contrast``/``gamma``/``white`` the display
    transfer (BGR gains); ``glare`` the peak brightness added by a reflected room light;
    ``moire`` the contrast of the sub-pixel grid before the camera averages it;
    ``distances_m`` where the benchmarks hold it.
    """

    name: Device
    width_m: float
    height_m: float
    bezel_m: float
    pitch_m: float
    pwm_hz: float
    pwm_depth: float
    black: float
    contrast: float
    gamma: float
    white: tuple[float, float, float]
    glare: float
    moire: float
    distances_m: tuple[float, ...]


SCREENS: dict[str, ScreenSpec] = {
    # A 6.1-inch phone (OLED, ~460 ppi, PWM dimming at 240 Hz), held 16-30 cm from the camera.
    "phone": ScreenSpec("phone", 0.142, 0.066, 0.004, 55e-6, 240.0, 0.25, 4.0, 0.9, 1.15,
                        (1.08, 1.0, 0.95), 90.0, 0.35, (0.16, 0.22, 0.30)),
    # A 24-inch 1080p office monitor (LCD, 0.277 mm pitch, PWM backlight at 1 kHz), 45-90 cm.
    "monitor": ScreenSpec("monitor", 0.531, 0.299, 0.012, 277e-6, 1000.0, 0.15, 12.0, 0.85,
                          1.1, (1.04, 1.0, 0.97), 60.0, 0.35, (0.45, 0.65, 0.90)),
}


def screen(name: str) -> ScreenSpec:
    """The display called ``name`` ("phone" or "monitor")."""
    try:
        return SCREENS[name]
    except KeyError:
        raise TerminalError(f"unknown replay screen {name!r}; "
                            f"choose from {', '.join(SCREENS)}") from None


class ReplayRenderer:
    """Renders clip frames as seen on ``spec`` held ``distance_m`` from a ``size`` camera.

    ``crop`` (x, y, w, h in clip pixels) is the part of the clip the attacker zooms to full
    screen (None: the whole clip, fitted with black bars). Call :meth:`render` once per
    camera frame, in time order; ``tilt_deg`` (yaw, pitch) is a deliberate tilt on top of the
    tremor. Instruments: ``last_homography`` maps screen-texture pixels (including the bezel) to
    the last frame, ``texture_size`` is that texture's (width, height).
    """

    def __init__(self, spec: ScreenSpec, distance_m: float, *, seed: int = 0,
                 size: tuple[int, int] = (640, 480),
                 crop: tuple[int, int, int, int] | None = None,
                 tremor: float = 1.0) -> None:
        if not (math.isfinite(distance_m) and 0.05 <= distance_m <= 5.0):
            raise TerminalError(f"distance_m must be 0.05..5 m, got {distance_m!r}")
        if not (math.isfinite(tremor) and tremor >= 0):
            raise TerminalError(f"tremor must be a finite number >= 0, got {tremor!r}")
        width, height = size
        if width < 32 or height < 32:
            raise TerminalError(f"size must be at least 32x32, got {size}")
        self.spec = spec
        self.distance_m = distance_m
        self.size = (int(width), int(height))
        self.crop = crop
        self._rng = np.random.default_rng(seed)
        self._focal = _FOCAL * width
        self._amp = _TREMOR * tremor
        self._pose = held_plane.first_pose(self._rng, self._amp)
        # Texture resolution: about 1.5 texels per camera pixel of the panel's projection.
        px_per_m = self._focal / distance_m
        self._tex_scale = 1.5 * px_per_m  # texels per metre
        bezel = spec.bezel_m * self._tex_scale
        self._panel_px = (max(8, round(spec.width_m * self._tex_scale)),
                          max(8, round(spec.height_m * self._tex_scale)))
        self._bezel_px = max(2, round(bezel))
        pw, ph = self._panel_px
        self.texture_size = (pw + 2 * self._bezel_px, ph + 2 * self._bezel_px)
        self._alpha, self._frame_tex, self._hand = self._bezel_and_hand()
        skin = np.float32([95, 125, 170])
        b = self._bezel_px
        hand_panel = self._hand[b:b + self._panel_px[1], b:b + self._panel_px[0], None]
        self._panel_keep = 1.0 - hand_panel
        self._panel_skin = skin * hand_panel
        hand = self._hand[..., None]
        self._frame_tex = self._frame_tex * (1.0 - hand) + skin * hand  # fingers on the bezel
        # Display transfer as a lookup table: black level, contrast, gamma, white point.
        level = np.arange(256, dtype=np.float64) / 255.0
        curve = np.power(level, spec.gamma) * (255.0 - spec.black) * spec.contrast + spec.black
        self._transfer = np.clip(np.stack([curve * g for g in spec.white], axis=1), 0, 255
                                 ).astype(np.uint8).reshape(256, 1, 3)
        self._glare_pos = self._rng.uniform([0.55, 0.15], [0.85, 0.45])
        self._background = held_plane.room(self._rng, width, height)
        self._noise = held_plane.noise_field(self._rng, width, height, _SENSOR_NOISE)
        self._pwm_phase = float(self._rng.uniform(0, 1))
        self._sub_phase = self._rng.uniform(0, 1, 2)
        self.last_homography: np.ndarray | None = None
        self._frames = 0

    @property
    def camera_px_per_panel_px(self) -> float:
        """How many camera pixels one panel pixel spans when held square to the camera."""
        return self._focal * self.spec.pitch_m / self.distance_m

    def render(self, image: np.ndarray, t: float, *, tilt_deg: tuple[float, float] = (0.0, 0.0)
               ) -> np.ndarray:
        """The camera frame at time ``t`` (seconds) showing ``image`` (BGR) on the screen."""
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise TerminalError(f"render needs a BGR image, got shape {image.shape}")
        if self._frames > 0:
            self._pose = held_plane.next_pose(self._rng, self._pose, self._amp,
                                              _TREMOR_SMOOTHING)
        self._frames += 1
        pose = self._pose.copy()
        pose[0] += tilt_deg[0]
        pose[1] += tilt_deg[1]
        homography = self._homography(pose)
        texture = self._texture(image, pose)
        warped = held_plane.warp(texture, homography, self.size)
        alpha = held_plane.warp(self._alpha, homography, self.size)
        panel = held_plane.warp(self._panel_mask(), homography, self.size)
        warped *= self._moire(homography, panel)
        warped *= self._banding(t, panel)[..., None]
        self.last_homography = homography
        return held_plane.camera_frame(self._background, warped, alpha[..., None], self._noise,
                                       self._rng)

    # -- the screen texture -------------------------------------------------------------------

    def _texture(self, image: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """Panel content through the display transfer, plus glare, inside bezel and hand."""
        import cv2

        s = self.spec
        pw, ph = self._panel_px
        shown = cv2.LUT(_fit(image, self.crop, pw, ph), self._transfer).astype(np.float32)
        # The reflected light stays put in the room, so it slides across the glass as the
        # screen turns (about 2 % of the panel per degree).
        gx = (self._glare_pos[0] - 0.02 * pose[0]) * pw
        gy = (self._glare_pos[1] + 0.02 * pose[1]) * ph
        gxs = np.exp(-(((np.arange(pw, dtype=np.float32) - gx) / (0.10 * pw)) ** 2))
        gys = np.exp(-(((np.arange(ph, dtype=np.float32) - gy) / (0.22 * ph)) ** 2))
        shown += (s.glare * np.outer(gys, gxs))[..., None]
        tex = self._frame_tex.copy()
        b = self._bezel_px
        tex[b:b + ph, b:b + pw] = shown * self._panel_keep + self._panel_skin
        return cv2.GaussianBlur(tex, (0, 0), 0.6)

    def _panel_mask(self) -> np.ndarray:
        w, h = self.texture_size
        mask = np.zeros((h, w), np.float32)
        b = self._bezel_px
        pw, ph = self._panel_px
        mask[b:b + ph, b:b + pw] = 1.0
        return mask * (1.0 - self._hand)

    def _bezel_and_hand(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coverage (rounded corners), the bezel's colour texture and the fingers' mask."""
        import cv2

        w, h = self.texture_size
        radius = max(2, round(0.06 * h)) if self.spec.name == "phone" else self._bezel_px
        mask = held_plane.rounded_mask(w, h, radius)
        tex = np.empty((h, w, 3), np.float32)
        tex[:] = (22.0, 20.0, 20.0)
        ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        tex += 14.0 * ramp  # a little room light on the frame
        hand = np.zeros((h, w), np.uint8)
        if self.spec.name == "phone":
            # Thumb over the left end and two fingertips over the bottom edge.
            fw = max(3, round(0.09 * h))
            cv2.ellipse(hand, (round(0.01 * w), round(0.62 * h)),
                        (round(0.05 * w), fw), 0, 0, 360, 255, -1)
            for fx in (0.3, 0.42):
                cv2.ellipse(hand, (round(fx * w), h), (fw, round(0.07 * h)), 0, 0, 360,
                            255, -1)
        hand_f = cv2.GaussianBlur(hand.astype(np.float32) / 255.0, (0, 0), 1.0)
        alpha = np.maximum(mask.astype(np.float32) / 255.0, hand_f)
        return alpha, tex, hand_f

    # -- camera-side artefacts ----------------------------------------------------------------

    def _moire(self, homography: np.ndarray, panel: np.ndarray) -> np.ndarray:
        """Per-pixel, per-channel gain of the sub-pixel grid as the camera samples it."""
        s = self.spec
        gain = np.ones((*panel.shape, 3), np.float32)
        ys, xs = np.nonzero(panel > 0)
        if ys.size == 0:
            return gain
        top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
        inv = np.linalg.inv(homography).astype(np.float32)
        w = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
        tu = (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / w
        tv = (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / w
        # Panel coordinates in pixels of the panel grid.
        per_px = np.float32(1.0 / (self._tex_scale * s.pitch_m))
        u = (tu - self._bezel_px) * per_px + np.float32(self._sub_phase[0])
        v = (tv - self._bezel_px) * per_px + np.float32(self._sub_phase[1])
        # A camera pixel integrates ~1/ratio panel pixels across; the grid's contrast that
        # survives falls with it (a 0.6 fill-factor aperture, smoothed so it never hits zero).
        ratio = 1.0 / max(self.camera_px_per_panel_px, 1e-6)
        survive = np.float32(s.moire * math.exp(-0.6 * ratio / 3.0))
        two_pi = np.float32(2 * np.pi)
        rows = 0.5 + 0.5 * np.cos(two_pi * v)  # the dark gap between pixel rows
        norm = np.float32(1.0 - survive * 0.75)  # the grid darkens nothing on average
        p = panel[top:bottom, left:right]
        for k in range(3):  # B, G, R stripes a third of a pixel apart
            stripe = 0.5 + 0.5 * np.cos(two_pi * (u - np.float32((2 - k) / 3.0)))
            g = (1.0 - survive * (1.0 - stripe * rows)) / norm
            gain[top:bottom, left:right, k] = g * p + (1.0 - p)
        return gain

    def _banding(self, t: float, panel: np.ndarray) -> np.ndarray:
        """Rolling-shutter bands of the backlight's PWM flicker (1 = no change)."""
        s = self.spec
        height = self.size[1]
        if s.pwm_hz <= 0 or s.pwm_depth <= 0:
            return np.ones(panel.shape, np.float32)
        rows = np.arange(height, dtype=np.float32)
        phase = rows * s.pwm_hz / _READOUT_ROWS_PER_S + t * s.pwm_hz + self._pwm_phase
        # A square-ish PWM wave softened by the exposure time: a raised cosine.
        band = 1.0 - s.pwm_depth * (0.5 + 0.5 * np.cos(2 * np.pi * phase))
        band /= 1.0 - s.pwm_depth * 0.5
        return band[:, None] * panel + (1.0 - panel)

    def _homography(self, pose: np.ndarray) -> np.ndarray:
        yaw, pitch, roll, tx, ty, dz = (float(v) for v in pose)
        width, height = self.size
        offset = np.array([tx * width * self.distance_m / self._focal,
                           ty * height * self.distance_m / self._focal,
                           self.distance_m * (1.0 + dz)])
        return held_plane.plane_homography(self.texture_size, self._tex_scale,
                                           (yaw, pitch, roll), offset, self._focal, self.size)


def face_crop(box: tuple[float, float, float, float], image_size: tuple[int, int],
              aspect: float, face_fraction: float) -> tuple[int, int, int, int]:
    """The clip region an attacker zooms to full screen: centred on the face ``box``
    (x, y, w, h), of the screen's ``aspect`` (w/h), with the face ``face_fraction`` of its
    height; clamped to the clip (``image_size`` = width, height)."""
    x, y, w, h = box
    iw, ih = image_size
    if not 0 < face_fraction <= 1 or aspect <= 0 or w <= 0 or h <= 0:
        raise TerminalError("face_crop needs a face box, a positive aspect and a fraction 0..1")
    ch = min(float(ih), h / face_fraction)
    cw = ch * aspect
    if cw > iw:
        cw, ch = float(iw), iw / aspect
    cx, cy = x + w / 2, y + h / 2
    left = round(min(max(cx - cw / 2, 0), iw - cw))
    top = round(min(max(cy - ch / 2, 0), ih - ch))
    return left, top, round(cw), round(ch)


def _fit(image: np.ndarray, crop: tuple[int, int, int, int] | None, width: int, height: int
         ) -> np.ndarray:
    """``image`` (or its ``crop``) scaled into width x height, centred on black bars."""
    import cv2

    if crop is not None:
        x, y, w, h = crop
        image = image[max(0, y):y + h, max(0, x):x + w]
        if image.size == 0:
            raise TerminalError(f"the crop {crop} is outside the clip")
    ih, iw = image.shape[:2]
    scale = min(width / iw, height / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.zeros((height, width, 3), np.uint8)
    oy, ox = (height - nh) // 2, (width - nw) // 2
    out[oy:oy + nh, ox:ox + nw] = resized
    return out

