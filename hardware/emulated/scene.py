"""Synthetic camera scenes: a QR code on a phone screen or a printed sticker, as a camera sees it.

``render_qr_scene`` draws a deterministic 8-bit BGR frame (same payload, conditions and seed
give the same pixels) of a code shown on a phone held at arm's length, or printed on a sticker,
in front of a cluttered background, then applies what a cheap camera does to it: perspective
tilt, rotation, distance, defocus and hand-shake blur, low light with sensor noise, sunlight
glare, screen moiré, dark-mode (inverted) codes and JPEG artefacts.

It is the renderer of the emulated camera and of the QR benchmark; it does not decode anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

Style = Literal["phone", "sticker"]
ErrorCorrection = Literal["L", "M", "Q", "H"]

_SUPERSAMPLE = 2  # the scene is drawn at twice the frame size and reduced with area averaging
_MODULE_PX = 8  # pixels per QR module in the flat (unwarped) object image


@dataclass(frozen=True)
class SceneConditions:
    """How a code is presented to the camera; every default is a clean, frontal, well-lit view."""

    name: str = "clean"
    style: Style = "phone"
    # Side of the code (without quiet zone) as a fraction of the frame height.
    scale: float = 0.4
    # Code centre offset from the frame centre, as fractions of frame width and height.
    offset: tuple[float, float] = (0.0, 0.0)
    # Out-of-plane tilt of the phone/sticker and the in-plane direction of the tilt axis.
    tilt_deg: float = 0.0
    tilt_axis_deg: float = 0.0
    # In-plane rotation of the phone/sticker.
    rotate_deg: float = 0.0
    # Gaussian defocus blur, sigma in frame pixels.
    blur_sigma: float = 0.0
    # Linear hand-shake blur: length in frame pixels and direction.
    motion_blur_px: float = 0.0
    motion_angle_deg: float = 0.0
    # Exposure gain (below 1 = low light) and Gaussian sensor noise sigma (0..255 scale).
    brightness: float = 1.0
    noise_sigma: float = 0.0
    # Strength 0..1 of a specular highlight (sunlight) on the phone/sticker.
    glare: float = 0.0
    # Strength 0..1 of screen moiré (interference of screen pixels with the sensor grid).
    moire: float = 0.0
    # Dark mode: light modules on a dark screen.
    inverted: bool = False
    # Re-encode the frame as JPEG with this quality (None = no compression).
    jpeg_quality: int | None = None
    error_correction: ErrorCorrection = "M"


def render_qr_scene(
    payload: bytes | str | None,
    conditions: SceneConditions | None = None,
    *,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
) -> np.ndarray:
    """Render a camera frame (BGR uint8, ``size`` = (width, height)) showing ``payload`` as a QR.

    ``payload`` None draws the same kind of scene without any code (for code-free frames).
    """
    import cv2

    cond = conditions or SceneConditions()
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"frame size {size} is too small")
    rng = np.random.default_rng(seed)
    ss = _SUPERSAMPLE
    big_w, big_h = width * ss, height * ss

    frame = _background(rng, big_w, big_h).astype(np.float32)
    modules = None if payload is None else qr_modules(payload, cond.error_correction)
    n_modules = 25 if modules is None else modules.shape[0]
    obj, mask, code_box = _object_image(rng, modules, n_modules, cond)

    code_side = max(cond.scale, 0.02) * height * ss
    centre = (big_w / 2 + cond.offset[0] * big_w, big_h / 2 + cond.offset[1] * big_h)
    homography = _placement(code_box, obj.shape, code_side, centre, cond, big_w)
    warped = cv2.warpPerspective(obj, homography, (big_w, big_h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.warpPerspective(mask, homography, (big_w, big_h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    frame = frame * (1.0 - alpha) + warped.astype(np.float32) * alpha

    if cond.moire > 0 and cond.style == "phone":
        frame = _apply_moire(rng, frame, alpha, cond.moire)
    if cond.glare > 0:
        frame = _apply_glare(rng, frame, centre, code_side, cond.glare)

    frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    frame *= float(cond.brightness)
    if cond.blur_sigma > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), float(cond.blur_sigma))
    if cond.motion_blur_px >= 1:
        frame = cv2.filter2D(frame, -1, _motion_kernel(cond.motion_blur_px, cond.motion_angle_deg))
    if cond.noise_sigma > 0:
        frame += rng.normal(0.0, float(cond.noise_sigma), frame.shape).astype(np.float32)
    out = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    if cond.jpeg_quality is not None:
        quality = int(min(max(cond.jpeg_quality, 1), 100))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def qr_modules(payload: bytes | str, error_correction: ErrorCorrection = "M") -> np.ndarray:
    """Return the QR symbol for ``payload`` as a bool matrix (True = dark), without quiet zone."""
    import qrcode
    from qrcode import constants

    levels = {"L": constants.ERROR_CORRECT_L, "M": constants.ERROR_CORRECT_M,
              "Q": constants.ERROR_CORRECT_Q, "H": constants.ERROR_CORRECT_H}
    qr = qrcode.QRCode(error_correction=levels[error_correction], border=0)
    qr.add_data(payload)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A cluttered, slightly defocused room: gradient plus random shapes and lines."""
    import cv2

    base = rng.uniform(60, 190, 3)
    tint = rng.uniform(-50, 50, 3)
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.empty((h, w, 3), np.float32)
    img[:] = base + ramp * tint
    img = np.clip(img, 0, 255).astype(np.uint8)
    scale = max(w, h)
    for _ in range(int(rng.integers(8, 16))):
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        kind = int(rng.integers(0, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            bw, bh = (int(v) for v in rng.integers(scale // 20, scale // 4, 2))
            cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), int(rng.integers(scale // 40, scale // 8)), colour, -1)
        else:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (x, y), (x2, y2), colour, int(rng.integers(2, 12)))
    texture = rng.normal(0, 6, (h // 8 + 1, w // 8 + 1, 1)).astype(np.float32)
    texture = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    img = np.clip(img.astype(np.float32) + texture, 0, 255)
    return cv2.GaussianBlur(img, (0, 0), 2.5)


def _object_image(
    rng: np.random.Generator, modules: np.ndarray | None, n_modules: int, cond: SceneConditions
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """Draw the flat phone or sticker; return (BGR image, alpha mask, code box x, y, w, h)."""
    import cv2

    m = _MODULE_PX
    code_px = n_modules * m
    quiet = 4 * m
    light = np.array([246, 246, 246], np.float32) if cond.style == "phone" else \
        np.array([228, 232, 236], np.float32)
    dark = np.array([22, 22, 22], np.float32)
    paper, ink = (dark, light) if cond.inverted else (light, dark)

    if cond.style == "phone":
        screen_w = code_px + 2 * quiet + 2 * m
        screen_h = int(screen_w * 2.0)
        bezel = max(int(screen_w * 0.05), 6)
        obj_w, obj_h = screen_w + 2 * bezel, screen_h + 2 * bezel + 2 * bezel
        obj = np.zeros((obj_h, obj_w, 3), np.uint8)
        body = tuple(int(v) for v in rng.integers(15, 45, 3))
        cv2.rectangle(obj, (0, 0), (obj_w - 1, obj_h - 1), body, -1)
        sx, sy = bezel, 2 * bezel
        obj[sy:sy + screen_h, sx:sx + screen_w] = paper.astype(np.uint8)
        accent = tuple(int(v) for v in rng.integers(60, 220, 3))
        cv2.rectangle(obj, (sx, sy), (sx + screen_w, sy + screen_h // 10), accent, -1)
        code_x = sx + (screen_w - code_px) // 2
        code_y = sy + screen_h // 10 + quiet + m
        _ui_text(rng, obj, sx + m, code_y + code_px + quiet, screen_w - 2 * m,
                 sy + screen_h - (code_y + code_px + quiet) - m, ink)
        mask = np.zeros((obj_h, obj_w), np.float32)
        cv2.rectangle(mask, (0, 0), (obj_w - 1, obj_h - 1), 1.0, -1)
        corner = bezel * 2
        for cx, cy in ((0, 0), (obj_w, 0), (0, obj_h), (obj_w, obj_h)):
            mask[max(cy - corner, 0):cy + corner, max(cx - corner, 0):cx + corner] = 0.0
            cv2.circle(mask, (min(max(cx, corner), obj_w - corner),
                              min(max(cy, corner), obj_h - corner)), corner, 1.0, -1)
    else:
        label_h = int(code_px * 0.25)
        obj_w = code_px + 2 * quiet
        obj_h = obj_w + label_h
        obj = np.empty((obj_h, obj_w, 3), np.uint8)
        obj[:] = paper.astype(np.uint8)
        code_x, code_y = quiet, quiet
        _ui_text(rng, obj, quiet, obj_w - quiet // 2, code_px, label_h, ink)
        mask = np.ones((obj_h, obj_w), np.float32)

    if modules is not None:
        cells = np.kron(modules, np.ones((m, m), bool))
        region = obj[code_y:code_y + code_px, code_x:code_x + code_px]
        region[cells] = ink.astype(np.uint8)
    else:
        # A code-free screen still has content where a code would be: a photo-like picture.
        pic = rng.integers(40, 220, (6, 6, 3)).astype(np.uint8)
        pic = cv2.resize(pic, (code_px, code_px), interpolation=cv2.INTER_CUBIC)
        obj[code_y:code_y + code_px, code_x:code_x + code_px] = pic
    return obj, mask, (float(code_x), float(code_y), float(code_px), float(code_px))


def _ui_text(rng: np.random.Generator, img: np.ndarray, x: int, y: int, w: int, h: int,
             ink: np.ndarray) -> None:
    """Grey bars standing in for lines of text."""
    import cv2

    line_h = max(int(w * 0.04), 3)
    colour = tuple(int(v) for v in (ink * 0.6 + 100 * 0.4))
    yy = y
    while yy + line_h < y + h and yy - y < 8 * line_h * 2:
        length = int(w * rng.uniform(0.4, 0.95))
        cv2.rectangle(img, (x, yy), (x + length, yy + line_h), colour, -1)
        yy += 2 * line_h


def _placement(code_box: tuple[float, float, float, float], obj_shape: tuple[int, ...],
               code_side: float, centre: tuple[float, float], cond: SceneConditions,
               focal: float) -> np.ndarray:
    """Homography from the flat object to the frame: scale, tilt in 3-D, rotate, project."""
    import cv2

    cx, cy, cw, _ = code_box
    k = code_side / cw
    obj_h, obj_w = obj_shape[:2]
    ox, oy = cx + cw / 2, cy + cw / 2  # code centre in object pixels
    src = np.array([[0, 0], [obj_w, 0], [obj_w, obj_h], [0, obj_h]], np.float32)
    pts = np.column_stack([(src[:, 0] - ox) * k, (src[:, 1] - oy) * k, np.zeros(4)])

    axis = math.radians(cond.tilt_axis_deg)
    tilt = math.radians(cond.tilt_deg)
    u = np.array([math.cos(axis), math.sin(axis), 0.0])  # tilt axis in the object plane
    ux = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    rot_tilt = np.eye(3) + math.sin(tilt) * ux + (1 - math.cos(tilt)) * (ux @ ux)
    rot = math.radians(cond.rotate_deg)
    rot_plane = np.array([[math.cos(rot), -math.sin(rot), 0],
                          [math.sin(rot), math.cos(rot), 0], [0, 0, 1]])
    pts = pts @ (rot_plane @ rot_tilt).T
    depth = focal + pts[:, 2]
    depth = np.maximum(depth, focal * 0.2)
    dst = np.column_stack([centre[0] + focal * pts[:, 0] / depth,
                           centre[1] + focal * pts[:, 1] / depth]).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def _apply_moire(rng: np.random.Generator, frame: np.ndarray, alpha: np.ndarray,
                 strength: float) -> np.ndarray:
    """Multiply the screen area with an interference pattern of two slightly rotated gratings."""
    h, w = frame.shape[:2]
    yy, xx = np.ogrid[0:h, 0:w]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(7.0, 12.0)
    f1 = 2 * math.pi / period
    f2 = f1 * rng.uniform(1.03, 1.08)
    a2 = angle + rng.uniform(0.02, 0.08)
    g1 = np.cos(f1 * (xx * math.cos(angle) + yy * math.sin(angle)))
    g2 = np.cos(f2 * (xx * math.cos(a2) + yy * math.sin(a2)))
    pattern = 1.0 + 0.35 * strength * (g1 * g2)
    return frame * (1.0 - alpha + alpha * pattern[..., None])


def _apply_glare(rng: np.random.Generator, frame: np.ndarray, centre: tuple[float, float],
                 code_side: float, strength: float) -> np.ndarray:
    """Add a bright elliptical highlight overlapping part of the code."""
    h, w = frame.shape[:2]
    gx = centre[0] + rng.uniform(-0.35, 0.35) * code_side
    gy = centre[1] + rng.uniform(-0.35, 0.35) * code_side
    sx = code_side * rng.uniform(0.2, 0.35)
    sy = sx * rng.uniform(0.5, 1.0)
    yy, xx = np.ogrid[0:h, 0:w]
    gauss_x = np.exp(-(((xx.astype(np.float32) - gx) / sx) ** 2) / 2.0)
    gauss_y = np.exp(-(((yy.astype(np.float32) - gy) / sy) ** 2) / 2.0)
    blob = (230.0 * strength) * (gauss_y * gauss_x)  # separable Gaussian
    return frame + blob[..., None]


def _motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised line kernel of ``length`` pixels in direction ``angle_deg``."""
    import cv2

    n = math.ceil(length) | 1
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    dx = math.cos(math.radians(angle_deg)) * (length - 1) / 2
    dy = math.sin(math.radians(angle_deg)) * (length - 1) / 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1,
             cv2.LINE_AA)
    return kernel / max(float(kernel.sum()), 1e-6)


# Named camera conditions: what a kiosk or bike-lock camera sees of a phone or sticker.
CAMERA_PRESETS: dict[str, SceneConditions] = {
    c.name: c
    for c in (
        SceneConditions(name="clean"),
        SceneConditions(name="far", scale=0.11, offset=(0.2, 0.1)),
        SceneConditions(name="tilted", tilt_deg=55, tilt_axis_deg=20, rotate_deg=15),
        SceneConditions(name="rotated", rotate_deg=37, scale=0.3),
        SceneConditions(name="defocus", blur_sigma=2.6),
        SceneConditions(name="hand-shake", motion_blur_px=11, motion_angle_deg=30),
        SceneConditions(name="low-light", brightness=0.18, noise_sigma=9.0),
        SceneConditions(name="glare", glare=1.0, tilt_deg=20),
        SceneConditions(name="moire", moire=1.0, scale=0.28, rotate_deg=8),
        SceneConditions(name="dark-mode", inverted=True, tilt_deg=30, blur_sigma=1.0),
        SceneConditions(name="jpeg", jpeg_quality=8, scale=0.22),
        SceneConditions(name="sticker-tilted", style="sticker", tilt_deg=50, tilt_axis_deg=100,
                        scale=0.2, blur_sigma=1.0),
        SceneConditions(name="mixed", tilt_deg=35, rotate_deg=-20, scale=0.22, blur_sigma=1.4,
                        noise_sigma=7.0, brightness=0.5, jpeg_quality=35),
    )
}


def random_conditions(rng: np.random.Generator | int, family: str | None = None) -> SceneConditions:
    """Draw camera conditions of ``family`` (a CAMERA_PRESETS name; random when None).

    Severities are drawn from ranges that straddle what single QR engines can still read,
    with a random pose (in-plane rotation, tilt axis, position) on top.
    """
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    families = tuple(CAMERA_PRESETS)
    name = family if family is not None else families[int(rng.integers(len(families)))]
    if name not in CAMERA_PRESETS:
        raise ValueError(f"unknown scene family {name!r}; choose from {', '.join(families)}")

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    base = SceneConditions(
        name=name,
        scale=u(0.2, 0.4),
        offset=(u(-0.15, 0.15), u(-0.1, 0.1)),
        rotate_deg=u(-25, 25),
        tilt_deg=u(0, 20),
        tilt_axis_deg=u(0, 180),
        noise_sigma=u(0, 3),
        blur_sigma=u(0, 0.8),
    )
    severity: dict[str, dict[str, object]] = {
        "clean": {},
        "far": {"scale": u(0.06, 0.11)},
        "tilted": {"tilt_deg": u(45, 72)},
        "rotated": {"rotate_deg": u(-180, 180), "scale": u(0.15, 0.3)},
        "defocus": {"blur_sigma": u(2.2, 4.2)},
        "hand-shake": {"motion_blur_px": u(7, 16), "motion_angle_deg": u(0, 180)},
        "low-light": {"brightness": u(0.06, 0.18), "noise_sigma": u(8, 16)},
        "glare": {"glare": u(0.8, 1.6)},
        "moire": {"moire": u(0.6, 1.0), "scale": u(0.14, 0.3)},
        "dark-mode": {"inverted": True, "blur_sigma": u(0.5, 3.0), "tilt_deg": u(0, 45)},
        "jpeg": {"jpeg_quality": int(rng.integers(3, 15)), "scale": u(0.12, 0.25)},
        "sticker-tilted": {"style": "sticker", "tilt_deg": u(30, 65), "scale": u(0.12, 0.25),
                           "blur_sigma": u(0.5, 2.0)},
        "mixed": {"tilt_deg": u(20, 50), "scale": u(0.12, 0.25), "blur_sigma": u(1.0, 2.5),
                  "noise_sigma": u(4, 10), "brightness": u(0.3, 0.7),
                  "jpeg_quality": int(rng.integers(15, 50))},
    }[name]
    return replace(base, **severity)  # type: ignore[arg-type]
