"""The image-difference finder: where do two pictures of one scene differ? (`mark1 diff` on the command line)

    >>> from mark1 import vision
    >>> from mark1.vision.synthetic import make_pair
    >>> pair = make_pair(seed=3, shift=(2, -3))       # 64x64 pictures, b shifted, 3 objects changed
    >>> regions = vision.find_differences(pair.a, pair.b, threshold=35, min_area=20)
    >>> [(r.box, r.area) for r in regions]              # (x0, y0, x1, y1) in picture a, largest first
    [((8, 26, 16, 34), 64), ((30, 49, 38, 57), 64), ((42, 7, 50, 15), 52)]
    >>> sorted(r.box for r in regions) == sorted(pair.changes)
    True

The per-pixel difference is the backend's `image_diff` kernel and the filtering/labelling runs on the
backend's arrays, so the same call runs on the GPU where there is one. `method="robust"` (the CLI's
default) is for real puzzles: colour casts, JPEG and sub-pixel shifts ignored, 1-2 px strokes kept
(robust.py); `draw_evidence` pictures why (`mark1 diff --heatmap`).
"""

from mark1.vision.align import estimate_shift
from mark1.vision.diff import DiffResult, Region, compare, find_differences
from mark1.vision.draw import draw_differences, draw_evidence
from mark1.vision.images import VisionInputError, check_writable, load_image, resize_to, save_image
from mark1.vision.split import Split, split_pair

__all__ = [
    "DiffResult", "Region", "Split", "VisionInputError", "check_writable", "compare", "draw_differences",
    "draw_evidence", "estimate_shift", "find_differences", "load_image", "resize_to", "save_image", "split_pair",
]
