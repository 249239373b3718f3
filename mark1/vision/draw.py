"""Drawing the result: both pictures side by side, each difference boxed and numbered on both (Pillow)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mark1.vision.diff import Region

BOX_COLOUR = (255, 0, 64)
LABEL_TEXT = (255, 255, 255)
GUTTER_COLOUR = (255, 255, 255)
MIN_OUTPUT_SIDE = 320     # small pictures are enlarged (nearest neighbour) so that the numbers stay legible


def _scale_for(shape: tuple[int, ...]) -> int:
    return max(1, -(-MIN_OUTPUT_SIDE // max(shape[0], shape[1])))


def _box_on(draw: ImageDraw.ImageDraw, box: Sequence[int], number: int, scale: int, font, limit: tuple[int, int],
            offset_x: int) -> None:
    x0, y0, x1, y1 = (v * scale for v in box)
    width, height = limit
    # clip to the picture: a box shifted into picture b can reach past its edge
    x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
    y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
    line = max(2, scale, height // 360)  # visible on a large picture too
    draw.rectangle((x0 + offset_x - line, y0 - line, x1 + offset_x + line - 1, y1 + line - 1),
                   outline=BOX_COLOUR, width=line)
    label = str(number)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    tx = min(max(0, x0 - line), width - (right - left) - 4) + offset_x
    ty = y0 - line - (bottom - top) - 4
    ty = ty if ty >= 0 else min(y1 + line, height - (bottom - top) - 4)  # below the box when no room above
    draw.rectangle((tx, ty, tx + right - left + 3, ty + bottom - top + 3), fill=BOX_COLOUR)
    draw.text((tx + 2 - left, ty + 2 - top), label, fill=LABEL_TEXT, font=font)


def draw_differences(a: np.ndarray, b: np.ndarray, regions: Sequence[Region], shift: tuple[int, int] = (0, 0),
                     gutter: int = 12) -> np.ndarray:
    """An HxWx3 uint8 image: `a`, a white gutter, `b`; region i boxed and labelled i+1 on both pictures
    (on `b` moved by `shift`, the (dy, dx) that compare() found)."""
    scale = _scale_for(a.shape)
    height, width = a.shape[0] * scale, a.shape[1] * scale
    canvas = Image.new("RGB", (2 * width + gutter, height), GUTTER_COLOUR)
    for picture, x in ((a, 0), (b, width + gutter)):
        canvas.paste(Image.fromarray(picture).resize((width, height), Image.Resampling.NEAREST), (x, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(11, min(28, height // 20)))
    for number, region in enumerate(regions, start=1):
        _box_on(draw, region.box, number, scale, font, (width, height), 0)
        _box_on(draw, region.shifted(shift), number, scale, font, (width, height), width + gutter)
    return np.asarray(canvas, dtype=np.uint8)
