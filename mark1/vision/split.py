"""Cutting one image that holds two pictures (side by side or stacked) into the two pictures.

A uniform frame around both pictures (edge lines of the top line's colour) is cut off first; the uncut
image is tried as well, in case the "frame" belonged to the pictures. Candidates for the cut: a gutter,
i.e. a band of uniform colour across the whole image, placed so that the two pictures either side of it
have the same size; or, with no gutter, the exact middle. The two pictures of a "spot the difference" pair
match almost everywhere once aligned, so each candidate is checked by comparing its halves (diff.compare
at MATCH_THRESHOLD), and the cut whose halves differ least is taken (between cuts that match about as
well: one at a found gutter before a plain halving, a cut-off frame before a kept one). When even that
one differs in more than MAX_CHANGED_FRACTION of the pixels, the image is not two pictures of one scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mark1.vision.images import VisionInputError, as_rgb

UNIFORM_SPREAD = 32.0        # a frame or gutter line's 10th..90th percentile spread, any channel: JPEG-safe
SAME_COLOUR = 12.0           # and neighbouring lines differ by less than this (median colour, any channel)
RINGING = 32.0               # a JPEG-compressed gutter next to a picture: most pixels within this of its colour
MOSTLY = 0.75                # ... that is, this share of the column (colour bleeds in from the picture)
MAX_BLEED = 4                # px: how far a frame or gutter is widened that way (JPEG: chroma 2x2 + ringing)
MIN_PICTURE_SIDE = 8         # px: each picture must be at least this wide (or tall)
MATCH_THRESHOLD = 20         # grey levels: stricter than the finder's default 35, so unrelated halves stand out
EDGE_STEP = 32               # grey levels between neighbouring pixels that make an edge
MIN_EDGES = 0.005            # share of neighbour pairs that are edges for a picture to have structure
PREFER = 0.02                # changed fraction a found gutter or a cut-off frame is worth, between good cuts
MAX_CHANGED_FRACTION = 0.4   # pictures of one scene differ in far less than this share of their pixels (~5%
                             # on the test pairs, where unrelated halves of one textured scene differ in > 80%)


@dataclass(frozen=True)
class Split:
    a: np.ndarray                 # the first picture (left, or top), HxWx3 uint8
    b: np.ndarray                 # the second picture, same shape
    direction: str                # "side-by-side" or "stacked"
    gutter: tuple[int, int]       # [start, stop) of the band between them along the cut axis (empty: none)
    changed_fraction: float       # share of the compared pixels that differ: how well the halves match
    origin_a: tuple[int, int]     # (x, y) of each picture's top-left pixel in the input image
    origin_b: tuple[int, int]


def _frame(image: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right): how many edge lines on each side are one colour, the top line's."""
    pixels = image.astype(np.float32)
    colour = np.median(pixels[0], axis=0)

    def depth(lines: np.ndarray) -> int:  # lines[i]: the i-th line in from this edge, (n, length, 3)
        low, high = np.percentile(lines, [10, 90], axis=1)
        plain = ((high - low).max(axis=-1) <= UNIFORM_SPREAD) & (
            np.abs(np.median(lines, axis=1) - colour).max(axis=-1) <= SAME_COLOUR)
        if not plain[0]:
            return 0
        # then up to MAX_BLEED lines that are mostly the frame's colour: JPEG bleeds colour in from the picture
        core = int(np.argmin(plain)) if not plain.all() else len(plain)
        mostly = (np.abs(lines[core:core + MAX_BLEED] - colour).max(axis=-1) <= RINGING).mean(axis=1) >= MOSTLY
        return core + (int(np.argmin(mostly)) if not mostly.all() else len(mostly))

    top, bottom = depth(pixels), depth(pixels[::-1])
    left, right = depth(pixels.transpose(1, 0, 2)), depth(pixels.transpose(1, 0, 2)[::-1])
    if top == len(pixels):  # all one colour: no frame to speak of
        return (0, 0, 0, 0)
    return (top, bottom, left, right)


def _uniform_runs(image: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of consecutive columns that are each one colour, all about the same colour,
    widened over the neighbouring columns that are mostly that colour (JPEG rings next to a picture's edge)."""
    pixels = image.astype(np.float32)
    low, high = np.percentile(pixels, [10, 90], axis=0)  # robust spread: JPEG speckle does not count
    uniform = (high - low).max(axis=-1) <= UNIFORM_SPREAD
    colours = np.median(pixels, axis=0)
    runs, start = [], None
    for x in range(image.shape[1] + 1):
        same = (x < image.shape[1] and uniform[x]
                and (start is None or np.abs(colours[x] - colours[start]).max() <= SAME_COLOUR))
        if start is not None and not same:
            runs.append(_widen(pixels, start, x))
            start = None
        if start is None and x < image.shape[1] and uniform[x]:
            start = x
    return runs


def _widen(pixels: np.ndarray, start: int, stop: int) -> tuple[int, int]:
    """The run [start, stop) grown by up to MAX_BLEED columns each side that are mostly the run's colour."""
    colour = pixels[:, start:stop].mean(axis=(0, 1))

    def gutter_like(x: int) -> bool:
        close = np.abs(pixels[:, x] - colour).max(axis=-1) <= RINGING
        return bool(close.mean() >= MOSTLY)

    first, last = start, stop
    while start > max(0, first - MAX_BLEED) and gutter_like(start - 1):
        start -= 1
    while stop < min(pixels.shape[1], last + MAX_BLEED) and gutter_like(stop):
        stop += 1
    return start, stop


def _cuts(width: int, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Cuts [g0, g1) leaving equal widths g0 == width - g1 either side: the widest gutter each run allows,
    then the middle with no gutter (a 1 px one for an odd width: a gutter JPEG has smeared past finding)."""
    cuts = []
    for r0, r1 in runs:
        g0 = max(r0, width - r1)  # the gutter must be symmetric about the middle and inside the run
        if g0 < width - g0 and g0 >= MIN_PICTURE_SIDE:
            cuts.append((g0, width - g0))
    middle = (width // 2, width - width // 2)
    if width // 2 >= MIN_PICTURE_SIDE and middle not in cuts:
        cuts.append(middle)
    return cuts


def split_pair(image: Any, max_shift: int = 8) -> Split:
    """The two pictures in `image` (HxWx3 uint8), found as described in the module docstring.

    `max_shift` is the misalignment allowed between the halves. Raises VisionInputError when no cut gives
    two pictures of one scene.
    """
    image = as_rgb(image, "image")
    top, bottom, left, right = _frame(image)
    framings = [(0, 0, image)]  # a uniform frame around both pictures is cut off first, when there is one
    if top + bottom + left + right:
        framings.insert(0, (left, top, image[top:image.shape[0] - bottom, left:image.shape[1] - right]))
    candidates = []  # (changed fraction + preference penalties, changed fraction, Split): the smallest wins
    for x_off, y_off, inner in framings:
        for direction, view in (("side-by-side", inner), ("stacked", inner.transpose(1, 0, 2))):
            for g0, g1 in _cuts(view.shape[1], _uniform_runs(view)):
                first, second = view[:, :g0], view[:, g1:]
                origin_b = (x_off + g1, y_off)
                if direction == "stacked":
                    first, second = first.transpose(1, 0, 2), second.transpose(1, 0, 2)
                    origin_b = (x_off, y_off + g1)
                first, second = np.ascontiguousarray(first), np.ascontiguousarray(second)
                fraction = _changed_fraction(first, second, max_shift)
                split = Split(first, second, direction, (g0, g1), fraction, (x_off, y_off), origin_b)
                penalty = PREFER * ((g1 - g0 <= 1) + (inner is image))  # a found gutter, a cut-off frame
                candidates.append((fraction + penalty, fraction, split))
    passing = [c for c in candidates if c[1] <= MAX_CHANGED_FRACTION]
    if not passing:
        height, width = image.shape[:2]
        if not candidates:
            raise VisionInputError(
                f"the image ({width}x{height}) cannot hold two pictures: no uniform gutter and no even side to halve"
            )
        best = min(candidates, key=lambda c: c[1])[2]
        raise VisionInputError(
            f"the image ({width}x{height}) does not look like two pictures of one scene: the best cut "
            f"({best.direction}, gutter {best.gutter}) leaves halves that differ in "
            f"{best.changed_fraction:.0%} of their pixels (at most {MAX_CHANGED_FRACTION:.0%} expected)"
        )
    return min(passing, key=lambda c: c[0])[2]


def _changed_fraction(first: np.ndarray, second: np.ndarray, max_shift: int) -> float:
    """Share of the pixels both pictures show that differ (at MATCH_THRESHOLD) once aligned.

    Pictures with structure (edges, outlines) are compared pixel by pixel beyond a colour cast (the robust
    method's `differing`): one half of a published puzzle is often recoloured, and the plain difference then
    covers most of it (61% on a generated puzzle with a 45-level cast, where 40% is allowed), while unrelated
    halves still differ almost everywhere. Featureless ones (a colour ramp cut in two: its halves differ by a
    smooth offset, a "cast") are compared by the plain difference, as before.
    """
    from mark1.vision.diff import compare

    grey = first.astype(np.int16).sum(axis=2)
    edges = sum(float((np.abs(np.diff(grey, axis=axis)) > 3 * EDGE_STEP).mean()) for axis in (0, 1))
    if edges >= MIN_EDGES:
        return compare(first, second, MATCH_THRESHOLD, max_shift=max_shift, method="robust").differing
    result = compare(first, second, MATCH_THRESHOLD, max_shift=max_shift)
    rows, cols = result.mask.shape
    dy, dx = result.shift
    return float(result.mask.sum()) / max((rows - abs(dy)) * (cols - abs(dx)), 1)
