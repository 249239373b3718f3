"""Seeded "spot the difference" pairs with a known answer, for the tests and the README example.

A scene is a smooth colour field with fine grain (so a misalignment shows up as a difference everywhere)
and a scatter of coloured rectangles and discs. The pair is two overlapping windows of one larger scene,
`shift` pixels apart, with some objects changed in the second (recoloured, removed, or added), and
independent noise on each picture like two photographs would have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHANGE_KINDS = ("recolour", "remove", "add")


@dataclass(frozen=True)
class Pair:
    a: np.ndarray                               # HxWx3 uint8
    b: np.ndarray                               # same size, b[y + dy, x + dx] shows a[y, x]
    changes: list[tuple[int, int, int, int]]    # true boxes (x0, y0, x1, y1) of the changed objects, in a
    kinds: list[str]                            # what happened to each
    shift: tuple[int, int]                      # (dy, dx)


def _background(height: int, width: int, rng: np.random.Generator, grain: float) -> np.ndarray:
    coarse = rng.uniform(70, 180, size=(height // 16 + 2, width // 16 + 2, 3))
    ys = np.linspace(0, coarse.shape[0] - 1.001, height)
    xs = np.linspace(0, coarse.shape[1] - 1.001, width)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    smooth = (coarse[y0][:, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1][:, x0] * fy * (1 - fx)
              + coarse[y0][:, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1][:, x0 + 1] * fy * fx)
    # the same grain on every channel, like texture: misaligned by a pixel, it differs by up to 2 * grain
    return smooth + rng.uniform(-grain, grain, size=(height, width, 1))


def _shape_mask(height: int, width: int, box: tuple[int, int, int, int], disc: bool) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.zeros((height, width), dtype=bool)
    if not disc:
        mask[y0:y1, x0:x1] = True
        return mask
    yy, xx = np.ogrid[:height, :width]
    cy, cx, ry, rx = (y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _vivid(rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """A colour far (> 90 in some channel) from the mid-tone background and from `avoid`."""
    while True:
        colour = rng.choice([20.0, 235.0], size=3) + rng.uniform(-15, 15, size=3)
        if avoid is None or np.abs(colour - avoid).max() > 90:
            return colour


def _free_box(taken: list, height: int, width: int, size: int, margin: int, gap: int, rng) -> tuple:
    """A random size×size box `margin` px inside the picture and `gap` px clear of every box in `taken`."""
    for _ in range(2000):
        x0 = int(rng.integers(margin, width - margin - size))
        y0 = int(rng.integers(margin, height - margin - size))
        box = (x0, y0, x0 + size, y0 + size)
        if all(box[0] >= t[2] + gap or t[0] >= box[2] + gap or box[1] >= t[3] + gap or t[1] >= box[3] + gap
               for t in taken):
            return box
    raise ValueError(f"cannot place {len(taken) + 1} objects of size {size} {gap} px apart in {width}x{height}")


def make_pair(height: int = 64, width: int = 64, n_changes: int = 3, shift: tuple[int, int] = (2, -3),
              noise: float = 4.0, n_objects: int = 3, object_size: int = 8, grain: float = 28.0,
              seed: int = 0) -> Pair:
    """A pair of pictures of one scene with `n_changes` objects changed; see the module docstring."""
    rng = np.random.default_rng(seed)
    dy, dx = shift
    pad = max(abs(dy), abs(dx))
    big_h, big_w = height + 2 * pad, width + 2 * pad
    scene = _background(big_h, big_w, rng, grain)
    # changed objects far enough apart that each stays its own region, and inside the area both pictures show;
    # the unchanged ones merely must not overlap them
    changed_boxes: list[tuple[int, int, int, int]] = []
    for _ in range(n_changes):
        changed_boxes.append(_free_box(changed_boxes, big_h, big_w, object_size, 2 * pad + 2, 12, rng))
    others: list[tuple[int, int, int, int]] = []
    for _ in range(n_objects):
        others.append(_free_box(changed_boxes + others, big_h, big_w, object_size, 0, 2, rng))
    objects = [(box, bool(rng.integers(2)), _vivid(rng)) for box in others + changed_boxes]
    first, second = scene.copy(), scene.copy()
    kinds = [CHANGE_KINDS[i % len(CHANGE_KINDS)] for i in range(n_changes)]
    changed = {n_objects + i: kind for i, kind in enumerate(kinds)}  # the last objects are the changed ones
    for i, (box, disc, colour) in enumerate(objects):
        mask = _shape_mask(big_h, big_w, box, disc)
        kind = changed.get(i)
        if kind != "add":
            first[mask] = colour
        if kind is None or kind == "add":
            second[mask] = colour
        elif kind == "recolour":
            second[mask] = _vivid(rng, avoid=colour)
        # "remove": the second keeps the background there
    # window a starts at (pad, pad); window b at (pad - dy, pad - dx), so b[y + dy, x + dx] = a[y, x]
    a = first[pad:pad + height, pad:pad + width]
    b = second[pad - dy:pad - dy + height, pad - dx:pad - dx + width]
    a = np.clip(a + rng.normal(0, noise, a.shape), 0, 255).round().astype(np.uint8)
    b = np.clip(b + rng.normal(0, noise, b.shape), 0, 255).round().astype(np.uint8)
    truth = [(box[0] - pad, box[1] - pad, box[2] - pad, box[3] - pad) for box, _, _ in objects[n_objects:]]
    return Pair(a=a, b=b, changes=truth, kinds=kinds, shift=shift)
