"""The image-difference finder: where do two pictures of one scene differ? (`mark1 diff` on the command line)

    from mark1 import vision
    regions = vision.find_differences(a, b, threshold=35, min_area=20)   # a, b: HxWx3 uint8 arrays
    regions[0].box, regions[0].area, regions[0].score                    # (x0, y0, x1, y1), px, mean diff

The per-pixel difference is the backend's `image_diff` kernel and the filtering/labelling runs on the
backend's arrays, so the same call runs on the GPU where there is one.
"""

from mark1.vision.align import estimate_shift
from mark1.vision.diff import DiffResult, Region, compare, find_differences
from mark1.vision.draw import draw_differences
from mark1.vision.images import VisionInputError, check_writable, load_image, resize_to, save_image
from mark1.vision.split import Split, split_pair

__all__ = [
    "DiffResult", "Region", "Split", "VisionInputError", "check_writable", "compare", "draw_differences",
    "estimate_shift", "find_differences", "load_image", "resize_to", "save_image", "split_pair",
]
