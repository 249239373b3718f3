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


WEAK_COLOUR = np.array([40, 110, 255], dtype=np.float32)      # above the weak threshold, not part of a region
DROPPED_COLOUR = np.array([230, 0, 230], dtype=np.float32)    # above the threshold, dropped (a speck, too small)
LEGEND = ("evidence: yellow..red above the threshold {t:g} and kept; magenta above it but dropped (too small); "
          "blue above {low:g}, not kept; grey below")


def draw_evidence(a: np.ndarray, result) -> np.ndarray:
    """An HxWx3 uint8 picture of why regions were (not) reported: picture a in dim grey, each pixel coloured
    by the evidence `compare` thresholded (result.evidence, .threshold, .low, .mask), the regions boxed and
    numbered, and a legend underneath."""
    evidence = result.evidence if result.evidence is not None else result.mask * 255.0
    grey = a.astype(np.float32).mean(axis=2, keepdims=True) * 0.45
    out = np.repeat(grey, 3, axis=2)
    ratio = np.clip((evidence - result.threshold) / max(result.threshold, 1.0), 0, 1)[..., None]
    kept = result.mask[..., None]
    strong = (evidence > result.threshold)[..., None]
    weak = (evidence > result.low)[..., None]
    hot = np.concatenate([np.full_like(ratio, 255), 230 * (1 - ratio), 40 * (1 - ratio)], axis=2)  # yellow → red
    out = np.where(weak & ~kept, 0.4 * out + 0.6 * WEAK_COLOUR, out)
    out = np.where(strong & ~kept, DROPPED_COLOUR, out)
    out = np.where(kept, hot, out)
    picture = Image.fromarray(out.astype(np.uint8))
    scale = _scale_for(a.shape)
    width, height = a.shape[1] * scale, a.shape[0] * scale
    font = ImageFont.load_default(size=max(11, min(16, width // 60)))
    legend = LEGEND.format(t=result.threshold, low=result.low)
    lines = _wrap(legend, font, width - 8)
    line_height = font.getbbox("Ag")[3] + 4
    canvas = Image.new("RGB", (width, height + line_height * len(lines) + 8), GUTTER_COLOUR)
    canvas.paste(picture.resize((width, height), Image.Resampling.NEAREST), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for number, region in enumerate(result.regions, start=1):
        _box_on(draw, region.box, number, scale, font, (width, height), 0)
    for i, line in enumerate(lines):
        draw.text((4, height + 4 + i * line_height), line, fill=(0, 0, 0), font=font)
    return np.asarray(canvas, dtype=np.uint8)


def _wrap(text: str, font, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + [current]
