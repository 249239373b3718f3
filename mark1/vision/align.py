"""Finding and undoing a small shift between two pictures of the same scene.

The shift (dy, dx) is the one for which a[y, x] best matches b[y + dy, x + dx]: the mean absolute grey-level
difference over a central window of a is smallest. An exhaustive search over ±max_shift runs on a coarse
copy (2×2 average pooling, repeated), then each finer level only checks ±2 pixels around the doubled
estimate, so a large picture costs about as much as a small one. Mean absolute difference (not squared)
keeps the changed objects, a small part of the picture, from pulling the estimate.
All arithmetic is on the backend's arrays (`xp` is numpy or cupy), with one host transfer per level.
"""

from __future__ import annotations

from typing import Any

Shift = tuple[int, int]
COARSE_MIN_SIDE = 48        # stop pooling before the picture is too small to hold its structure
REFINE_RADIUS = 2           # how far each finer level may move the estimate (pooling loses up to ±1)
SAMPLED_PIXELS = 250_000   # compare every k-th row of a larger window: rows at full resolution still pin the shift
TIE_BREAK = 1e-3            # grey levels per pixel of shift: a featureless picture gives (0, 0), not a corner


def overlap_slices(shape: tuple[int, int], shift: Shift) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Index tuples (for a, for b) of the area both pictures cover once b is moved back by `shift`."""
    height, width = shape
    dy, dx = shift
    rows = slice(max(0, -dy), min(height, height - dy))
    cols = slice(max(0, -dx), min(width, width - dx))
    rows_b = slice(rows.start + dy, rows.stop + dy)
    cols_b = slice(cols.start + dx, cols.stop + dx)
    return (rows, cols), (rows_b, cols_b)


def shift_limit(shape: tuple[int, int], max_shift: int) -> int:
    """The largest shift searched: `max_shift`, but at most a quarter of the shorter side."""
    return max(0, min(int(max_shift), min(shape) // 4))


def _grey(image: Any, xp: Any) -> Any:
    # channel by channel: a mean over a length-3 last axis is several times slower in NumPy
    return (image[:, :, 0].astype(xp.float32) + image[:, :, 1] + image[:, :, 2]) * xp.float32(1 / 3)


def _pool(grey: Any) -> Any:
    """Half the size in each direction: the mean of each 2×2 block (an odd last row/column is dropped)."""
    h, w = grey.shape[0] // 2 * 2, grey.shape[1] // 2 * 2
    g = grey[:h, :w]
    return (g[0::2, 0::2] + g[1::2, 0::2] + g[0::2, 1::2] + g[1::2, 1::2]) * 0.25


def _search(grey_a: Any, grey_b: Any, center: Shift, radius: int, limit: int, xp: Any) -> Shift:
    """The shift within `radius` of `center` (and within ±limit) with the smallest mean absolute difference.

    Every candidate compares the same central window of a (a `limit` px margin cut off), so no candidate
    can score better by pushing a changed part of a out of the compared area.
    """
    candidates = [
        (dy, dx)
        for dy in range(max(-limit, center[0] - radius), min(limit, center[0] + radius) + 1)
        for dx in range(max(-limit, center[1] - radius), min(limit, center[1] + radius) + 1)
    ]
    height, width = grey_a.shape
    step = max(1, (height - 2 * limit) * (width - 2 * limit) // SAMPLED_PIXELS)
    window_a = grey_a[limit:height - limit:step, limit:width - limit]
    scores = [
        xp.abs(window_a - grey_b[limit + dy:height - limit + dy:step, limit + dx:width - limit + dx]).mean()
        for dy, dx in candidates
    ]
    penalties = xp.asarray([TIE_BREAK * (abs(dy) + abs(dx)) for dy, dx in candidates], dtype=xp.float32)
    best = int(xp.argmin(xp.stack(scores) + penalties))
    return candidates[best]


def estimate_shift(a: Any, b: Any, max_shift: int) -> Shift:
    """The integer shift (dy, dx), |dy|, |dx| <= max_shift, that best maps a[y, x] onto b[y + dy, x + dx].

    `a` and `b` are HxWx3 uint8 arrays of one backend (numpy or cupy), of the same shape. `max_shift` is
    capped at a quarter of the shorter side so that at least half of each picture is compared.
    """
    import mark1 as m1

    xp = m1.get_backend().xp
    limit = shift_limit(a.shape[:2], max_shift)
    if limit <= 0:
        return (0, 0)
    pyramid = [(_grey(a, xp), _grey(b, xp))]
    while min(pyramid[-1][0].shape) >= 2 * COARSE_MIN_SIDE and (limit >> (len(pyramid) - 1)) > REFINE_RADIUS:
        ga, gb = pyramid[-1]
        pyramid.append((_pool(ga), _pool(gb)))
    levels = len(pyramid) - 1
    coarse_limit = -(-limit // (1 << levels))  # ceil: the coarse search must reach every allowed shift
    shift = _search(*pyramid[-1], (0, 0), coarse_limit, coarse_limit, xp)
    for level in range(levels - 1, -1, -1):
        level_limit = -(-limit // (1 << level))
        center = (shift[0] * 2, shift[1] * 2)
        shift = _search(*pyramid[level], center, REFINE_RADIUS, level_limit, xp)
    return shift
