"""The replay bench's attacker model and limit derivation, on synthetic frames."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np

from terminal.bench.face_replay import (
    FPS,
    TILT_DEG,
    Attempt,
    Footage,
    ReplayDirector,
    Segment,
    _report,
    derive_limits,
    plot_replay,
    write_csv,
)


def _frames(tag: int, n: int = 30) -> list[np.ndarray]:
    """Frames whose first pixel says which clip (tag) and which frame they are."""
    out = []
    for i in range(n):
        f = np.zeros((4, 4, 3), np.uint8)
        f[0, 0] = (tag, i, 0)
        out.append(f)
    return out


def _ident(frame: np.ndarray) -> tuple[int, int]:
    return int(frame[0, 0, 0]), int(frame[0, 0, 1])


def test_a_segment_plays_once_or_ping_pongs() -> None:
    seg = Segment(_frames(1, 5), 10.0, start=1, stop=4)
    assert _ident(seg.at(0.0)) == (1, 1) and _ident(seg.at(0.25)) == (1, 3)
    assert seg.at(0.3) is None
    order = [_ident(seg.ping_pong(k / 10))[1] for k in range(7)]
    assert order == [1, 2, 3, 2, 1, 2, 3]


def test_the_attacker_plays_the_prompted_action_after_a_reaction_time() -> None:
    footage = Footage("p", [Segment(_frames(1), 30.0)],
                      {"blink": [Segment(_frames(2), 30.0)]})
    d = ReplayDirector(footage, random.Random(0), reaction_s=(0.5, 0.5))
    d.see("blink", 10.0)
    before, _ = d.frame(10.2)
    assert _ident(before)[0] == 1  # still the neutral footage while reacting
    during, tilt = d.frame(10.62)
    assert _ident(during) == (2, 3) and tilt == (0.0, 0.0)  # 0.12 s into the blink clip
    after, _ = d.frame(12.0)
    assert _ident(after)[0] == 1  # the clip ended: back to neutral
    assert d.played == ["blink:clip"]


def test_without_turn_footage_the_attacker_tilts_the_screen() -> None:
    footage = Footage("p", [Segment(_frames(1), 30.0)], {})
    d = ReplayDirector(footage, random.Random(0), reaction_s=(0.2, 0.2))
    d.see("turn_right", 0.0)
    tilts = [d.frame(k / FPS)[1][0] for k in range(1, 20)]
    assert tilts[0] == 0.0  # reacting
    assert tilts[-1] == TILT_DEG and all(b >= a for a, b in itertools.pairwise(tilts))
    d.see("smile", 20 / FPS)  # no footage of a smile: neutral, and the tilt comes back
    back = [d.frame(k / FPS)[1][0] for k in range(21, 40)]
    assert back[-1] == 0.0
    assert d.played == ["turn_right:tilt", "smile:none"]


def _attempt(who: str, **checks: float) -> Attempt:
    return Attempt(who, "p", "phone", 0.2, 0, False, "x", [], [], [], [], dict(checks))


def test_limits_are_derived_between_genuine_and_replays() -> None:
    genuine = [_attempt("genuine", banding=b, flat_motion=0.8, flat_motion_bend=0.02)
               for b in (0.9, 1.2, 2.0)]
    replays = [_attempt("replay", banding=b, flat_motion=r, flat_motion_bend=0.03)
               for b, r in ((3.0, 0.2), (5.0, 0.9), (1.5, 0.4))]
    d = derive_limits(genuine, replays, bend=0.01)
    assert d["banding"]["suggested"] == 2.5
    assert d["banding"]["replays_beyond_genuine"] == "2/3"
    assert d["flat_motion"]["suggested"] == 0.6  # between 0.4 and the genuine 0.8
    overlap = derive_limits(genuine, [_attempt("replay", banding=1.0)], bend=0.01)
    assert "suggested" not in overlap["banding"]


def test_the_report_counts_targets_and_the_plots_are_written(tmp_path: Path) -> None:
    from terminal.config.schema import FaceSection

    attempts = [
        Attempt("genuine", "g1", "blink", None, 0, True, "accepted", [], [], [], [],
                {"banding": 1.1, "flat_motion": 0.9, "flat_motion_bend": 0.02}),
        Attempt("replay", "p", "phone", 0.22, 0, False, "spoof_suspected",
                ["spoof_suspected"], ["banding"], [], ["blink:clip"],
                {"banding": 4.0, "flat_motion": 0.8, "flat_motion_bend": 0.03}),
        Attempt("replay", "p", "monitor", 0.65, 0, False, "timed_out",
                ["challenge_not_answered"], ["smile"], [], ["smile:none"], {}),
    ]
    people = {"p": Footage("p", [Segment(_frames(1), 30.0)], {})}
    report = _report(attempts, people, FaceSection())
    assert report["replay"] == {"attempts": 2, "accepted": 0}
    assert report["targets"] == {"replays_accepted": "PASS", "genuine_accepted": "PASS"}
    assert report["per_variant"]["phone@0.22m"]["stopped_by"] == {"banding": 1}
    assert report["per_variant"]["monitor@0.65m"]["stopped_by"] == {
        "challenge_not_answered": 1}
    paths = [*plot_replay(tmp_path, report), write_csv(tmp_path / "a.csv", report)]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
