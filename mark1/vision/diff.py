"""The difference finder: which parts of picture b differ from picture a, as boxes.

Two methods. "robust" (robust.py; `mark1 diff`'s default) is for real puzzles: it ignores colour casts and
up to a pixel of misregistration and keeps 1–2 px strokes. "plain" (this module; `compare`'s default, as
the tests of exact thresholds expect) is the lecture's per-pixel rule made noise-proof. The plain steps, all
on the current backend's arrays (NumPy on the CPU, CuPy on a GPU; labelling and filters from
`backend.ndimage_module`, i.e. scipy.ndimage or cupyx.scipy.ndimage):
  1. find the small shift between the pictures and compare only the area both cover (align.py);
  2. per-pixel difference = largest channel difference |a - b|, the backend's `image_diff` kernel;
  3. a pixel is changed when its difference and its neighbourhood's (a `blur` px box blur) both exceed
     `threshold`, so camera/JPEG noise does not cross it pixel by pixel; a 3×3 morphological opening
     removes the specks left over;
  4. changed pixels up to 2*`merge` px apart are grouped (dilate, then connected components), so one
     changed object gives one box; groups with fewer than `min_area` changed pixels are dropped.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from mark1.vision.align import MIN_FRACTION, Shift, estimate_shift, overlap_slices, phase_shift, resample, shift_limit
from mark1.vision.images import VisionInputError, as_rgb
from mark1.vision.robust import LOW_SHARE, Tuning, changed_mask, evidence

METHODS = ("plain", "robust")

ROUNDING_MARGIN = 1e-3


@dataclass(frozen=True)
class Region:
    """One difference: its box in picture-a pixels (x0, y0, x1, y1; x1/y1 exclusive), how many pixels
    changed inside it (`area`) and their mean difference (`score`, 0..255: the largest channel difference; for
    the robust method, the evidence, i.e. that difference beyond the cast and the misregistration allowed)."""

    box: tuple[int, int, int, int]
    area: int
    score: float

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    def shifted(self, shift: Shift) -> tuple[int, int, int, int]:
        """The box in picture-b pixels, given the shift (dy, dx) found between the pictures."""
        dy, dx = shift
        x0, y0, x1, y1 = self.box
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "area": self.area, "score": round(self.score, 2)}


@dataclass(frozen=True)
class DiffResult:
    """Everything `compare` found: the regions (largest first), the shift (dy, dx) with a[y, x] ~ b[y+dy, x+dx],
    and the changed-pixel mask in picture-a coordinates (host NumPy bool array, False outside the overlap);
    `evidence`: the per-pixel difference that was thresholded (float32, 0 outside the overlap), `threshold`
    and the weak threshold of the robust method's hysteresis (`low`, = threshold for plain); `subpixel`: the
    shift to a fraction of a pixel (robust method; the whole shift for plain); `differing`: the share of the
    compared pixels that differ (plain: the mask's; robust: pixel by pixel beyond the cast, no tolerance)."""

    regions: list[Region]
    shift: Shift
    mask: np.ndarray
    evidence: np.ndarray | None = None
    threshold: float = 35.0
    low: float = 35.0
    subpixel: tuple[float, float] = (0.0, 0.0)
    differing: float = 0.0


def _check_options(threshold: float, min_area: int, max_shift: int, blur: int, merge: int, edge: int,
                   method: str) -> None:
    if method not in METHODS:
        raise VisionInputError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if not 0 <= threshold < 255:
        raise VisionInputError(f"threshold={threshold}: expected a grey-level difference in [0, 255)")
    for name, value, low in (("min_area", min_area, 1), ("max_shift", max_shift, 0), ("blur", blur, 0),
                             ("merge", merge, 0), ("edge", edge, 0)):
        if int(value) != value or value < low:
            raise VisionInputError(f"{name}={value}: expected an integer >= {low}")


def _regions(mask: Any, diff: Any, merge: int, min_area: int, offset: tuple[int, int], xp: Any, ndi: Any):
    """Boxes of the groups of changed pixels in `mask` (pixels within `merge` px belong to one group)."""
    import mark1 as m1

    grouped = ndi.maximum_filter(mask.astype(xp.uint8), size=2 * merge + 1, mode="constant") if merge else mask
    labels, count = ndi.label(grouped)
    count = int(count)
    if count == 0:
        return []
    labels = xp.where(mask, labels, 0)  # the dilation (max filter) only groups; boxes and areas count changed pixels
    # per-label sums by bincount over the changed pixels only: several times faster than ndimage's sum_labels
    changed = labels[mask]
    sums = xp.stack([xp.bincount(changed, minlength=count + 1),
                     xp.bincount(changed, weights=diff[mask], minlength=count + 1)])
    areas, totals = m1.to_numpy(sums[:, 1:]).astype(np.float64)  # one small transfer: 2 numbers per region
    oy, ox = offset
    found = []
    for where, area, total in zip(ndi.find_objects(labels, max_label=count), areas, totals, strict=True):
        if where is not None and area >= min_area:
            rows, cols = where
            box = (cols.start + ox, rows.start + oy, cols.stop + ox, rows.stop + oy)
            found.append(Region(box=box, area=int(area), score=float(total / area)))
    found.sort(key=lambda r: (-r.area, r.box[1], r.box[0]))
    return found


def _plain(x: Any, xp: Any) -> Any:
    """`x` C-contiguous and writable: a picture from np.asarray(PIL image) is read-only, and a kernel compiled
    for plain arrays (the numba backend's image_diff) refuses read-only ones."""
    x = xp.ascontiguousarray(x)
    return x if getattr(x.flags, "writeable", True) else x.copy()


def _opened(changed: Any, xp: Any, ndi: Any) -> Any:
    """The 3×3 opening as min then max filters (separable, much faster than binary_opening on large images),
    on uint8 (every ndimage filter takes it, CPU and GPU); outside the picture counts as unchanged, so a
    strip under 3 px wide along the edge goes too, while a change reaching the edge keeps its edge pixels."""
    return ndi.maximum_filter(ndi.minimum_filter(changed.astype(xp.uint8), size=3, mode="constant"), size=3,
                              mode="constant").astype(bool)


def _robust(a_dev: Any, b_dev: Any, shift: Shift, limit: int, threshold: float, tuning: Tuning, xp: Any,
            ndi: Any):
    """The robust method's (shift, fractional shift, overlap slice of a, evidence over the overlap, share of
    pixels differing pixel by pixel beyond the cast)."""
    subpixel = (float(shift[0]), float(shift[1]))
    if tuning.subpixel and limit:
        subpixel = phase_shift(a_dev, b_dev, shift, limit)
        shift = (round(subpixel[0]), round(subpixel[1]))
    in_a, in_b = overlap_slices(a_dev.shape[:2], shift)
    part_b = b_dev[in_b]
    fraction = (subpixel[0] - shift[0], subpixel[1] - shift[1])
    resampled = max(abs(f) for f in fraction) >= MIN_FRACTION
    if resampled:
        part_b = resample(part_b, fraction)
    strength, share = evidence(a_dev[in_a], part_b, threshold, tuning, xp, ndi)
    if resampled:  # the outermost pixels were read past b's edge (clamped): no evidence there
        strength[:1], strength[-1:], strength[:, :1], strength[:, -1:] = 0, 0, 0, 0
    return shift, subpixel, in_a, strength, share


def compare(a: Any, b: Any, threshold: float = 35, min_area: int = 20, *, max_shift: int = 8, blur: int = 3,
            merge: int = 4, edge: int = 0, method: str = "plain", tuning: Tuning | None = None) -> DiffResult:
    """Find where picture `b` differs from picture `a` (HxWx3 uint8 NumPy arrays of the same size).

    `threshold`: a pixel differs when its largest channel difference, and the mean of that over its
    `blur`×`blur` neighbourhood, both exceed this (strictly); `blur` 0 or 1: the pixel alone;
    `min_area`: groups of fewer changed pixels are dropped; `max_shift`: the largest misalignment searched
    for, in pixels; `merge`: each changed pixel reaches `merge` px around it, so groups up to 2*merge px
    apart become one region (0: only touching pixels); `edge`: differences within this many px of the
    compared area's border are ignored (pictures cut from one JPEG carry colour bleed along their edges);
    `method`: "plain" (the steps above) or "robust" (robust.py: casts and misregistration ignored, thin
    strokes kept; `threshold` seeds regions, `min_area` or a stroke's length keeps them, `blur` is unused);
    `tuning`: the robust method's switches, for measuring each step (robust.Tuning; default: all on).
    """
    import mark1 as m1

    _check_options(threshold, min_area, max_shift, blur, merge, edge, method)
    a, b = as_rgb(a, "a"), as_rgb(b, "b")
    if a.shape != b.shape:
        raise VisionInputError(
            f"the pictures differ in size: a is {a.shape[1]}x{a.shape[0]}, b is {b.shape[1]}x{b.shape[0]} "
            "(width x height); resize one first (the CLI's --resize)"
        )
    be = m1.get_backend()
    xp, ndi = be.xp, importlib.import_module(be.ndimage_module)
    a_dev, b_dev = _plain(m1.asarray(a, dtype=np.uint8), xp), _plain(m1.asarray(b, dtype=np.uint8), xp)
    shift = estimate_shift(a_dev, b_dev, max_shift)
    low = threshold
    if method == "robust":
        tuning = tuning or Tuning()
        shift, subpixel, in_a, diff, differing = _robust(a_dev, b_dev, shift, shift_limit(a.shape[:2], max_shift),
                                                         threshold, tuning, xp, ndi)
        changed = diff > threshold
    else:
        subpixel, differing = (float(shift[0]), float(shift[1])), None
        in_a, in_b = overlap_slices(a.shape[:2], shift)
        diff = m1.image_diff(_plain(a_dev[in_a], xp), _plain(b_dev[in_b], xp))
        smooth = ndi.uniform_filter(diff, size=blur, mode="nearest") if blur > 1 else diff
        # both the pixel and its neighbourhood must differ: the blur rejects lone noisy pixels, the pixel's own
        # value keeps the blur from growing every box by a pixel; the opening removes what specks remain
        # (the blurred values are means of integers, 1/blur² apart: the small margin keeps float rounding, which
        # differs between scipy and cupyx, from deciding a mean that is exactly the threshold)
        changed = (smooth > threshold + ROUNDING_MARGIN) & (diff > threshold) if blur > 1 else diff > threshold
    if edge:
        changed[:edge], changed[-edge:], changed[:, :edge], changed[:, -edge:] = False, False, False, False
        diff[:edge], diff[-edge:], diff[:, :edge], diff[:, -edge:] = 0, 0, 0, 0
    if method == "robust" and tuning.hysteresis:
        mask, low, group_area = changed_mask(diff, threshold, min_area, xp, ndi), LOW_SHARE * threshold, 1
    else:
        mask, group_area = _opened(changed, xp, ndi), min_area
    offset = (in_a[0].start, in_a[1].start)
    regions = _regions(mask, diff, merge, group_area, offset, xp, ndi)
    full_mask = np.zeros(a.shape[:2], dtype=bool)
    full_mask[in_a] = m1.to_numpy(mask)
    full_evidence = np.zeros(a.shape[:2], dtype=np.float32)
    full_evidence[in_a] = m1.to_numpy(diff)
    if differing is None:
        differing = float(full_mask.sum()) / max(full_mask[in_a].size, 1)
    return DiffResult(regions=regions, shift=shift, mask=full_mask, evidence=full_evidence, threshold=threshold,
                      low=low, subpixel=subpixel, differing=differing)


def find_differences(a: Any, b: Any, threshold: float = 35, min_area: int = 20, **options: Any) -> list[Region]:
    """The regions where `b` differs from `a`, largest first (see `compare` for the options)."""
    return compare(a, b, threshold, min_area, **options).regions
