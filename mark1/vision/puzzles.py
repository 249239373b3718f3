"""Seeded line-art "spot the difference" puzzles like the published ones, with the answer known.

A scene is drawn with Pillow's ImageDraw: a sky and a ground (often hatched), then objects with black
outlines and flat fills — boxes, discs, triangles, houses with windows, hatched panels, small details. The
second picture changes some objects, one of each kind in CHANGE_KINDS (a fill colour changed, an object
removed, a 1–2 px stroke added or removed, an object moved or resized), then the pair is degraded like a
scanned or re-saved puzzle: one half gets a colour cast (a smooth per-channel field over part of the picture,
and/or a global offset and gain), the second picture is shifted by a few pixels (a fraction of a pixel too,
by resampling), and each is saved as JPEG. Every parameter is drawn from a wide range per seed (sizes,
stroke widths, cast strengths, JPEG quality), so a method tuned on some seeds is checked on others.
The true box of each change comes from the clean drawings (before cast, shift and JPEG).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw

CHANGE_KINDS = ("fill", "remove", "add_stroke", "remove_stroke", "move", "resize")
SHAPES = ("box", "disc", "triangle", "house", "hatched", "detail")
CHANGE_GAP = 16          # px between the zones of two changes, so each is its own region (merge=4 joins 8 px)
MIN_VISIBLE = 8          # px: a change must differ in at least this many pixels of the clean drawings
CLEAN_DIFFERENCE = 30    # a clean-drawing pixel belongs to a change's true box when a channel differs this much


@dataclass(frozen=True)
class Shape:
    kind: str                          # one of SHAPES, or "stroke"
    box: tuple[int, int, int, int]     # x0, y0, x1, y1 in scene pixels
    fill: tuple[int, int, int]
    outline: int                       # outline (or stroke) width, px
    angle: float = 0.0                 # strokes and hatching: the line direction


@dataclass(frozen=True)
class Puzzle:
    a: np.ndarray                                # HxWx3 uint8
    b: np.ndarray                                # the same scene changed, cast, shifted by `shift`, JPEG
    changes: list[tuple[int, int, int, int]]     # true boxes (x0, y0, x1, y1) in picture a
    kinds: list[str]                             # the kind of each change
    shift: tuple[float, float]                   # (dy, dx): b[y + dy, x + dx] shows a[y, x]
    notes: dict = field(default_factory=dict)    # the degradation drawn: cast, quality, ...


def _colour(rng: np.random.Generator, far_from: tuple | None = None) -> tuple[int, int, int]:
    """A flat-fill colour; with `far_from`, one that differs from it by > 70 in some channel."""
    while True:
        colour = tuple(int(v) for v in rng.integers(40, 250, 3))
        if far_from is None or max(abs(c - f) for c, f in zip(colour, far_from, strict=True)) > 70:
            return colour


def _hatch(draw: ImageDraw.ImageDraw, box: tuple, spacing: int, angle: float, width: int) -> None:
    """Parallel dark lines across `box` (clipped to it) at `angle`."""
    x0, y0, x1, y1 = box
    length = (x1 - x0) + (y1 - y0)
    dx, dy = np.cos(angle), np.sin(angle)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    layer = Image.new("L", (x1 - x0 + 1, y1 - y0 + 1), 0)
    lines = ImageDraw.Draw(layer)
    for offset in range(-length, length + 1, spacing):
        px, py = cx - x0 - dy * offset, cy - y0 + dx * offset
        lines.line((px - dx * length, py - dy * length, px + dx * length, py + dy * length), fill=255, width=width)
    draw.bitmap((x0, y0), layer, fill=(20, 20, 20))


def _draw(draw: ImageDraw.ImageDraw, s: Shape) -> None:
    x0, y0, x1, y1 = s.box
    ink, w = (0, 0, 0), s.outline
    if s.kind == "stroke":
        length = min(x1 - x0, y1 - y0) / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        dx, dy = np.cos(s.angle) * length, np.sin(s.angle) * length
        draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=(15, 15, 15), width=w)
    elif s.kind == "disc":
        draw.ellipse(s.box, fill=s.fill, outline=ink, width=w)
    elif s.kind == "triangle":
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=s.fill, outline=ink, width=w)
    elif s.kind == "house":
        roof = y0 + (y1 - y0) // 3
        draw.rectangle((x0, roof, x1, y1), fill=s.fill, outline=ink, width=w)
        draw.polygon([((x0 + x1) // 2, y0), (x1, roof), (x0, roof)], fill=(150, 60, 50), outline=ink, width=w)
        side = max(3, (x1 - x0) // 4)
        wx, wy = x0 + (x1 - x0) // 2 - side // 2, roof + (y1 - roof) // 3
        draw.rectangle((wx, wy, wx + side, wy + side), fill=(230, 230, 160), outline=ink, width=max(1, w - 1))
    elif s.kind == "hatched":
        draw.rectangle(s.box, fill=s.fill)
        _hatch(draw, s.box, max(3, w + 3), s.angle, 1)
        draw.rectangle(s.box, outline=ink, width=w)
    elif s.kind == "detail":  # a small disc with a dot inside: an eye, a button
        draw.ellipse(s.box, fill=s.fill, outline=ink, width=w)
        r = max(1, (x1 - x0) // 5)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)
    else:
        draw.rectangle(s.box, fill=s.fill, outline=ink, width=w)


def _render(shapes: list[Shape], size: tuple[int, int], rng_seed: int, supersample: int) -> np.ndarray:
    """The scene drawn at `supersample` times the size and reduced (anti-aliased outlines), HxWx3 uint8."""
    height, width = size
    rng = np.random.default_rng(rng_seed)  # the same sky, ground and hatching in both pictures
    k = supersample
    image = Image.new("RGB", (width * k, height * k), tuple(int(v) for v in rng.integers(150, 240, 3)))
    draw = ImageDraw.Draw(image)
    horizon = int(height * k * rng.uniform(0.35, 0.6))
    draw.rectangle((0, horizon, width * k, height * k), fill=_colour(rng))
    draw.line((0, horizon, width * k, horizon), fill=(0, 0, 0), width=k * int(rng.integers(1, 3)))
    if rng.random() < 0.6:
        _hatch(draw, (0, horizon + 2 * k, width * k - 1, height * k - 1), k * int(rng.integers(6, 14)),
               rng.uniform(-0.6, 0.6), k)
    for s in shapes:
        scaled = Shape(s.kind, tuple(v * k for v in s.box), s.fill, s.outline * k, s.angle)
        _draw(draw, scaled)
    if k > 1:
        image = image.resize((width, height), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.uint8).copy()


def _free_box(taken: list, size: tuple[int, int], extent: tuple[int, int], margin: int, gap: int, rng) -> tuple:
    height, width = size
    w, h = extent
    for _ in range(500):
        x0 = int(rng.integers(margin, max(margin + 1, width - margin - w)))
        y0 = int(rng.integers(margin, max(margin + 1, height - margin - h)))
        box = (x0, y0, x0 + w, y0 + h)
        if all(box[0] >= t[2] + gap or t[0] >= box[2] + gap or box[1] >= t[3] + gap or t[1] >= box[3] + gap
               for t in taken):
            return box
    return None


def _changed(kind: str, s: Shape, rng: np.random.Generator, scene: tuple[int, int]) -> Shape | None:
    """What the second picture draws for an object changed by `kind` (None: nothing)."""
    x0, y0, x1, y1 = s.box
    if kind == "fill":
        return replace(s, fill=_colour(rng, far_from=s.fill))
    if kind == "move":
        step = int(rng.integers(4, 11)) * rng.choice([-1, 1], size=2)
        return replace(s, box=(x0 + step[0], y0 + step[1], x1 + step[0], y1 + step[1]))
    if kind == "resize":
        grow = rng.uniform(1.25, 1.5) if rng.random() < 0.7 else rng.uniform(0.6, 0.75)
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * grow / 2, (y1 - y0) * grow / 2
        return replace(s, box=(int(cx - hw), int(cy - hh), int(cx + hw), int(cy + hh)))
    return None  # remove; and strokes (drawn in one picture only)


def _cast(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A per-channel colour cast (HxWx3 float offsets, plus a gain): a smooth field over part of the picture
    (a blob or a soft-edged band) and/or a global shift, one channel often much stronger (up to ~45 levels)."""
    height, width = shape
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    offsets, notes = np.zeros((height, width, 3)), {}
    kinds = ["regional", "global", "both"][int(rng.integers(3))]
    if kinds in ("regional", "both"):
        strength = rng.uniform(-15, 15, 3)
        strength[int(rng.integers(3))] = rng.choice([-1, 1]) * rng.uniform(15, 45)
        if rng.random() < 0.5:  # a blob
            sigma = rng.uniform(0.15, 0.35) * min(shape)
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            field_ = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        else:  # a band: everything beyond a line, with a soft edge (a recoloured ground or sky)
            angle, soft = rng.uniform(0, 2 * np.pi), rng.uniform(15, 60)
            along = (xx - width / 2) * np.cos(angle) + (yy - height / 2) * np.sin(angle)
            field_ = 1 / (1 + np.exp(-(along - rng.uniform(-0.3, 0.3) * min(shape)) / soft))
        offsets += field_[:, :, None] * strength
        notes["regional"] = [round(float(v), 1) for v in strength]
    gain = np.ones(3)
    if kinds in ("global", "both"):
        shift = rng.uniform(-20, 20, 3)
        offsets += shift
        gain = rng.uniform(0.92, 1.08, 3)
        notes["global"] = [round(float(v), 1) for v in shift]
        notes["gain"] = [round(float(v), 3) for v in gain]
    return offsets, notes | {"gain_values": gain}


def _jpeg(picture: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.uint8).copy()


def _layout(rng: np.random.Generator, size: tuple[int, int], pad: int):
    """The unchanged shapes, the changed ones with their kinds, and the strokes drawn in one picture only."""
    height, width = size
    unit = min(size)
    kinds = list(CHANGE_KINDS)
    zones, changed, strokes = [], [], []
    for kind in kinds:
        for _ in range(20):
            if kind.endswith("stroke"):
                length = int(rng.integers(max(10, unit // 20), max(14, unit // 7)))
                extent = (length, length)
            else:
                side = int(rng.uniform(0.07, 0.16) * unit)
                extent = (max(8, int(side * rng.uniform(0.7, 1.4))), max(8, side))
            grow = 12 if kind in ("move", "resize") else 2  # room for the moved or enlarged shape
            box = _free_box(zones, size, (extent[0] + 2 * grow, extent[1] + 2 * grow), 2 * pad + 4, CHANGE_GAP, rng)
            if box is not None:
                zones.append(box)
                inner = (box[0] + grow, box[1] + grow, box[2] - grow, box[3] - grow)
                width_px = int(rng.integers(1, 3)) if kind.endswith("stroke") else int(rng.integers(1, 4))
                shape = Shape("stroke" if kind.endswith("stroke") else SHAPES[int(rng.integers(len(SHAPES)))],
                              inner, _colour(rng), width_px, float(rng.uniform(0, np.pi)))
                (strokes if kind.endswith("stroke") else changed).append((kind, shape, box))
                break
    others = []
    for _ in range(int(rng.integers(6, 16))):
        side = int(rng.uniform(0.06, 0.2) * unit)
        box = _free_box(zones + [o.box for o in others], size, (max(6, int(side * rng.uniform(0.6, 1.6))), side),
                        0, 3, rng)
        if box is not None:
            others.append(Shape(SHAPES[int(rng.integers(len(SHAPES)))], box, _colour(rng), int(rng.integers(1, 4)),
                                float(rng.uniform(0, np.pi))))
    return others, changed, strokes


def make_puzzle(seed: int, width: int | None = None) -> Puzzle:
    """The puzzle for `seed` (see the module docstring); `width` fixes the size (height = 3/4 of it)."""
    rng = np.random.default_rng(seed)
    width = width or int(rng.integers(240, 641))
    height = int(width * rng.uniform(0.65, 0.85))
    whole = rng.integers(-4, 5, 2)
    fraction = rng.uniform(-0.5, 0.5, 2) if rng.random() < 0.5 else np.zeros(2)
    shift = whole + fraction
    pad = int(np.ceil(np.abs(shift).max())) + 1
    size = (height + 2 * pad, width + 2 * pad)
    others, changed, strokes = _layout(rng, size, pad)
    in_b = {"fill", "move", "resize"}
    first = others + [s for _, s, _ in changed] + [s for k, s, _ in strokes if k == "remove_stroke"]
    second = others + [_changed(k, s, rng, size) for k, s, _ in changed if k in in_b] + [
        s for k, s, _ in strokes if k == "add_stroke"]
    background_seed, supersample = int(rng.integers(1 << 30)), int(rng.choice([1, 2]))
    clean_a = _render(first, size, background_seed, supersample)
    clean_b = _render([s for s in second if s is not None], size, background_seed, supersample)
    differs = np.abs(clean_a.astype(np.int16) - clean_b).max(axis=2) > CLEAN_DIFFERENCE
    boxes, kinds = [], []
    for kind, _, zone in changed + strokes:
        ys, xs = np.nonzero(differs[zone[1]:zone[3], zone[0]:zone[2]])
        if len(ys) >= MIN_VISIBLE:  # a stroke drawn over dark ink, say, is no change anyone could find
            boxes.append((zone[0] + int(xs.min()) - pad, zone[1] + int(ys.min()) - pad,
                          zone[0] + int(xs.max()) + 1 - pad, zone[1] + int(ys.max()) + 1 - pad))
            kinds.append(kind)
    offsets, notes = _cast((height, width), rng)
    gain = notes.pop("gain_values")
    a = clean_a[pad:pad + height, pad:pad + width].astype(np.float64)
    # b[y, x] = scene[y + pad - dy, x + pad - dx]: a bilinear resampling when the shift has a fraction
    moved = Image.fromarray(clean_b).transform((width, height), Image.Transform.AFFINE,
                                               (1, 0, pad - shift[1], 0, 1, pad - shift[0]),
                                               resample=Image.Resampling.BILINEAR)
    b = np.asarray(moved, dtype=np.float64)
    cast_on_b = rng.random() < 0.5  # the cast is on one half, either one (in picture a's frame when on a)
    noise = rng.uniform(0, 3)
    if cast_on_b:
        b = b * gain + offsets
    else:
        a = a * gain + offsets
    quality = int(rng.integers(60, 91))
    a, b = ((np.clip(p + rng.normal(0, noise, p.shape), 0, 255).round().astype(np.uint8)) for p in (a, b))
    notes |= {"cast_on": "b" if cast_on_b else "a", "quality": quality, "noise": round(noise, 2),
              "supersample": supersample, "size": (width, height)}
    return Puzzle(a=_jpeg(a, quality), b=_jpeg(b, quality), changes=boxes, kinds=kinds,
                  shift=(float(shift[0]), float(shift[1])), notes=notes)
