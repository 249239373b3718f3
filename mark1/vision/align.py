"""Finding and undoing a small shift between two pictures of the same scene.

The shift (dy, dx) is the one for which a[y, x] best matches b[y + dy, x + dx]: the mean absolute grey-level
difference over a central window of a is smallest. An exhaustive search over ±max_shift runs on a coarse
copy (2×2 average pooling, repeated), then each finer level only checks ±2 pixels around the doubled
estimate, so a large picture costs about as much as a small one. Mean absolute difference (not squared)
keeps the changed objects, a small part of the picture, from pulling the estimate.
All arithmetic is on the backend's arrays (`xp` is numpy or cupy), with one host transfer per level.

The robust method then refines that shift to a fraction of a pixel (`phase_shift`: phase correlation, the
peak placed by a Gaussian fit, checked against other correlation peaks where hatching makes the answer
ambiguous) and reads b there (`resample`, bilinear); the integer search stays the fallback and the centre.
"""

from __future__ import annotations

import math
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


# ---- the robust method's alignment: phase correlation, refined to a fraction of a pixel ----
PHASE_WINDOW = 384      # px: at most this central part of the overlap is correlated (a multiple of 32: fast FFTs)
PHASE_LOWPASS = 0.12    # cycles/px: the Gaussian weight on the whitened spectrum; JPEG leaves noise above it,
                        # and the weighted correlation peak is a Gaussian, so three samples place it (below)
PEAKS = 3               # correlation peaks besides the integer search's considered (hatching makes several)
AMBIGUOUS = 0.5         # a peak elsewhere this high, relative to the one at the search's answer, is checked
MIN_PHASE_SIDE = 64     # px: a smaller window's correlation peak is unreliable (the Hann window leaves too little)
MIN_FRACTION = 0.1      # px: a smaller fraction is not worth resampling for (resampling blurs b a little)


def _gaussian_peak(left: float, centre: float, right: float) -> float:
    """Where a Gaussian through three equally spaced samples peaks, relative to the middle one."""
    logs = [math.log(max(v, 1e-12)) for v in (left, centre, right)]
    curvature = logs[0] - 2 * logs[1] + logs[2]
    return 0.5 * (logs[0] - logs[2]) / curvature if curvature < 0 else 0.0


def _peak(corr: Any, allowed: Any, xp: Any) -> tuple[float, float, float]:
    """The highest allowed sample of the correlation surface, refined (index units, wrapped to ±n/2), and
    its height."""
    import mark1 as m1

    rows, cols = corr.shape
    best = int(xp.argmax(xp.where(allowed, corr, -xp.inf)))
    py, px = best // cols, best % cols
    values = m1.to_numpy(corr[xp.asarray([(py - 1) % rows, py, (py + 1) % rows, py, py]),
                              xp.asarray([px, px, px, (px - 1) % cols, (px + 1) % cols])])
    # a peak cut off by the allowed area is not refined: the fit would run past the area's edge
    frac_y = min(max(_gaussian_peak(float(values[0]), float(values[1]), float(values[2])), -0.5), 0.5)
    frac_x = min(max(_gaussian_peak(float(values[3]), float(values[1]), float(values[4])), -0.5), 0.5)
    return ((py if py < rows // 2 else py - rows) + frac_y, (px if px < cols // 2 else px - cols) + frac_x,
            float(values[1]))


def _match_cost(a: Any, b: Any, shift: tuple[float, float], margin: int, xp: Any) -> float:
    """Mean absolute grey difference between a's central window (`margin` px in, at most PHASE_WINDOW px a
    side) and b read there at the fractional `shift`: the same window of a for every candidate."""
    height, width = a.shape[:2]
    side_y, side_x = min(PHASE_WINDOW, height - 2 * margin), min(PHASE_WINDOW, width - 2 * margin)
    y0, x0 = (height - side_y) // 2, (width - side_x) // 2
    whole_y, whole_x = round(shift[0]), round(shift[1])
    window_a = _grey(a[y0:y0 + side_y, x0:x0 + side_x], xp)
    around_b = b[y0 + whole_y - 1:y0 + side_y + whole_y + 1, x0 + whole_x - 1:x0 + side_x + whole_x + 1]
    window_b = resample(_grey(around_b, xp), (shift[0] - whole_y, shift[1] - whole_x))[1:-1, 1:-1]
    return float(xp.abs(window_a - window_b).mean())


def phase_shift(a: Any, b: Any, centre: Shift, limit: int) -> tuple[float, float]:
    """The shift (dy, dx), to a fraction of a pixel, with a[y, x] ~ b[y + dy, x + dx], by phase correlation.

    `a`, `b`: two HxWx3 uint8 pictures (one backend's arrays); `centre`: the integer search's shift. The
    overlap at `centre` is correlated: the spectrum whitened (each frequency counts by its phase alone, so the
    edges of line art dominate and a colour cast or a flat fill does not) and weighted by a Gaussian
    low-pass (Guizar-Sicairos et al. 2008; Foroosh et al. 2002 for the sub-pixel peak). Two answers come
    from it: the peak next to `centre` (the fraction the integer search cannot see) and the highest peak
    within ±`limit` (the grey-level search can be misled by hatching, a stripe pattern that matches itself
    one period along, and so can the correlation); when they differ, the one whose resampled b matches a
    better wins. On the generated puzzles the result is off by a median 0.03 px (90%: 0.08 px).
    """
    import mark1 as m1

    if max(map(abs, centre)) >= limit:  # the true shift is probably beyond the limit: say so (keep the search's)
        return (float(centre[0]), float(centre[1]))
    xp = m1.get_backend().xp
    in_a, in_b = overlap_slices(a.shape[:2], centre)
    height, width = in_a[0].stop - in_a[0].start, in_a[1].stop - in_a[1].start
    side_y, side_x = min(PHASE_WINDOW, height // 32 * 32), min(PHASE_WINDOW, width // 32 * 32)
    if min(side_y, side_x) < MIN_PHASE_SIDE:
        return (float(centre[0]), float(centre[1]))
    y0, x0 = (height - side_y) // 2, (width - side_x) // 2
    hann = (xp.hanning(side_y)[:, None] * xp.hanning(side_x)[None, :]).astype(xp.float32)
    crops = [_grey(p[part][y0:y0 + side_y, x0:x0 + side_x], xp) for p, part in ((a, in_a), (b, in_b))]
    fa, fb = (xp.fft.rfft2((c - c.mean()) * hann) for c in crops)
    cross = fa * xp.conj(fb)
    freq_y, freq_x = xp.fft.fftfreq(side_y)[:, None], xp.fft.rfftfreq(side_x)[None, :]
    cross *= xp.exp(-(freq_y**2 + freq_x**2) / (2 * PHASE_LOWPASS**2)) / (xp.abs(cross) + 1e-6)
    corr = xp.fft.irfft2(cross, s=(side_y, side_x))
    # b[y] = a[y - s] puts the correlation's peak at index -s (mod n)
    lag_y, lag_x = xp.fft.fftfreq(side_y, 1 / side_y)[:, None], xp.fft.fftfreq(side_x, 1 / side_x)[None, :]
    near = (xp.abs(lag_y) <= 1) & (xp.abs(lag_x) <= 1)
    anywhere = (xp.abs(centre[0] - lag_y) <= limit) & (xp.abs(centre[1] - lag_x) <= limit)
    py, px, height_near = _peak(corr, near, xp)
    candidates = [(centre[0] - py, centre[1] - px)]
    if min(height, width) > 2 * (limit + 4):  # else too little is left to judge between candidates
        # the highest peaks elsewhere (each with its 5x5 surroundings taken out before the next)
        heights = []
        for _ in range(PEAKS):
            py, px, top = _peak(corr, anywhere, xp)
            if abs(py) > 1.5 or abs(px) > 1.5:
                candidates.append((centre[0] - py, centre[1] - px))
                heights.append(top)
            anywhere &= (xp.abs(lag_y - round(py)) > 2) | (xp.abs(lag_x - round(px)) > 2)
        # unless one stands out, the candidates' resampled pictures are compared with a (as `_search` does)
        if heights and max(heights) > AMBIGUOUS * height_near:
            margin = limit + 2
            return min(candidates, key=lambda s: _match_cost(a, b, s, margin, xp))
    return candidates[0]


def resample(b: Any, fraction: tuple[float, float]) -> Any:
    """`b` (HxW or HxWxC) read at (y + fy, x + fx) by bilinear interpolation, edges clamped. A uint8 `b` comes
    back uint8, in integers with the weights in 1/16ths (255·16·16 fits uint16: a third of the float work);
    any other as float32."""
    import mark1 as m1

    xp = m1.get_backend().xp
    fy, fx = fraction
    iy, ix = math.floor(fy), math.floor(fx)
    ty, tx = fy - iy, fx - ix
    height, width = b.shape[:2]
    pad = 1 + max(abs(iy), abs(ix))
    widths = ((pad, pad + 1), (pad, pad + 1)) + ((0, 0),) * (b.ndim - 2)
    whole = b.dtype == xp.uint8
    if whole:
        ty, tx = round(ty * 16), round(tx * 16)
        padded = xp.pad(b, widths, mode="edge").astype(xp.uint16)
    else:
        padded = xp.pad(b.astype(xp.float32), widths, mode="edge")
    one = 16 if whole else 1.0
    rows = padded[pad + iy:pad + iy + height] * (one - ty) + padded[pad + iy + 1:pad + iy + 1 + height] * ty
    out = rows[:, pad + ix:pad + ix + width] * (one - tx) + rows[:, pad + ix + 1:pad + ix + 1 + width] * tx
    return ((out + 128) >> 8).astype(xp.uint8) if whole else out
