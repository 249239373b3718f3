"""Cutting one image into its two pictures: side by side or stacked, with or without a gutter."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mark1 import vision
from mark1.vision.synthetic import make_pair


def join(a: np.ndarray, b: np.ndarray, axis: int, gutter: int = 0, colour=(255, 255, 255)) -> np.ndarray:
    shape = list(a.shape)
    shape[axis] = gutter
    band = np.broadcast_to(np.asarray(colour, dtype=np.uint8), shape)
    return np.ascontiguousarray(np.concatenate([a, band, b], axis=axis))


def assert_regions_at(regions: list, changes: list, offset: tuple[int, int] = (0, 0), slack: int = 3) -> None:
    """One region per true change, each box within `slack` px of that change's (x0, y0, x1, y1), and no other
    region: the count alone passes with every box in the wrong place. offset (x, y): where the split put picture
    a's top-left relative to the true one (JPEG bleed moves the cut by a few px), i.e. boxes shift by -offset."""
    dx, dy = offset
    boxes = [r.box for r in regions]
    for x0, y0, x1, y1 in changes:
        true = (x0 - dx, y0 - dy, x1 - dx, y1 - dy)
        near = [box for box in boxes if max(abs(b - t) for b, t in zip(box, true, strict=True)) <= slack]
        assert len(near) == 1, f"change {true} (in the split picture): regions {boxes}"
    assert len(boxes) == len(changes), f"regions {boxes}, changes {changes}"


@pytest.mark.parametrize("gutter", [0, 1, 6])
@pytest.mark.parametrize(("axis", "direction"), [(1, "side-by-side"), (0, "stacked")])
def test_split_finds_both_pictures(axis, direction, gutter):
    pair = make_pair(height=48, width=56, seed=gutter + axis, shift=(1, -2))
    split = vision.split_pair(join(pair.a, pair.b, axis, gutter))
    assert split.direction == direction
    cut = pair.a.shape[axis]
    assert split.gutter == (cut, cut + gutter)
    assert np.array_equal(split.a, pair.a) and np.array_equal(split.b, pair.b)
    assert split.changed_fraction < 0.2


def test_dark_gutter_and_a_grey_image():
    pair = make_pair(height=40, width=40, n_changes=2, seed=3)
    image = join(pair.a, pair.b, 1, gutter=9, colour=(10, 12, 11))
    split = vision.split_pair(image)
    assert split.gutter == (40, 49)
    grey = image.mean(axis=2).astype(np.uint8)  # HxW grey images are accepted too
    assert vision.split_pair(grey).gutter == (40, 49)


def test_pictures_whose_edge_has_the_gutter_colour():
    # the first picture's last 3 columns are white like the gutter: the gutter found is the widest one
    # that leaves two pictures of the same width, and the pictures still match once aligned
    pair = make_pair(height=40, width=48, n_changes=2, seed=8, shift=(0, 0))
    a, b = pair.a.copy(), pair.b.copy()
    a[:, -3:] = 255
    b[:, -3:] = 255
    split = vision.split_pair(join(a, b, 1, gutter=4))
    assert split.gutter == (48, 52)
    assert np.array_equal(split.a, a) and np.array_equal(split.b, b)


def test_found_differences_after_a_split():
    pair = make_pair(seed=2, shift=(-2, 3))
    split = vision.split_pair(join(pair.a, pair.b, 1, gutter=5))
    regions = vision.find_differences(split.a, split.b)
    assert sorted(r.box for r in regions) == sorted(pair.changes)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (make_pair(height=64, width=128, seed=5).a, "does not look like two pictures"),  # one textured scene
        (np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8), "does not look like two pictures"),
        (np.zeros((9, 13, 3), np.uint8), "cannot hold two pictures"),  # odd sides, too small for a gutter
    ],
)
def test_an_image_that_is_not_two_pictures_is_refused(image, message):
    with pytest.raises(vision.VisionInputError, match=message):
        vision.split_pair(image)


def test_a_diagonal_gradient_is_not_two_pictures():
    ramp = np.add.outer(np.arange(50), np.arange(80)).astype(np.float64)
    image = np.dstack([ramp * 255 / ramp.max()] * 3).astype(np.uint8)
    with pytest.raises(vision.VisionInputError, match="does not look like two pictures"):
        vision.split_pair(image)


@pytest.mark.parametrize(("axis", "frame", "frame_colour"), [(1, 12, (255, 255, 255)), (0, 3, (90, 90, 200))])
def test_a_frame_around_both_pictures_is_cut_off(axis, frame, frame_colour):
    pair = make_pair(height=40, width=48, n_changes=2, seed=12, shift=(1, 1))
    inner = join(pair.a, pair.b, axis, gutter=5)
    framed = np.empty((inner.shape[0] + 2 * frame, inner.shape[1] + 2 * frame, 3), dtype=np.uint8)
    framed[...] = frame_colour
    framed[frame:-frame, frame:-frame] = inner
    split = vision.split_pair(framed)
    assert np.array_equal(split.a, pair.a) and np.array_equal(split.b, pair.b)
    assert split.origin_a == (frame, frame)
    step = pair.a.shape[axis] + 5
    assert split.origin_b == ((frame + step, frame) if axis == 1 else (frame, frame + step))


def test_origins_without_a_frame():
    pair = make_pair(height=40, width=48, n_changes=2, seed=13)
    split = vision.split_pair(join(pair.a, pair.b, 0, gutter=2))
    assert (split.origin_a, split.origin_b) == ((0, 0), (0, 42))


@pytest.mark.parametrize("quality", [85, 40])
def test_jpeg_compressed_pair_with_frame_and_gutter(quality):
    """JPEG rings and bleeds colour into the frame and gutter: they are still found to the pixel."""
    pair = make_pair(height=96, width=128, n_changes=4, n_objects=6, object_size=12, seed=0, shift=(2, -3), noise=3)
    framed = np.full((96 + 2 * 11, 2 * 128 + 7 + 2 * 11, 3), 255, dtype=np.uint8)
    framed[11:-11, 11:-11] = join(pair.a, pair.b, 1, gutter=7)
    buffer = io.BytesIO()
    Image.fromarray(framed).save(buffer, "JPEG", quality=quality)
    split = vision.split_pair(np.asarray(Image.open(buffer).convert("RGB")))
    assert (split.gutter, split.origin_a, split.origin_b) == ((128, 135), (11, 11), (146, 11))
    regions = vision.find_differences(split.a, split.b)
    assert_regions_at(regions, pair.changes)  # the pictures are cut to the pixel: no offset


def test_odd_width_with_no_visible_gutter_is_cut_in_the_middle():
    pair = make_pair(height=40, width=48, n_changes=2, seed=14, shift=(0, 0))
    seam = np.random.default_rng(3).integers(0, 256, (40, 1, 3), dtype=np.uint8)  # a 1 px column, not uniform
    split = vision.split_pair(np.concatenate([pair.a, seam, pair.b], axis=1))
    assert split.gutter == (48, 49)
    assert np.array_equal(split.a, pair.a) and np.array_equal(split.b, pair.b)


@pytest.mark.parametrize(
    ("seed", "axis", "gutter", "frame", "colour", "quality"),
    [(9, 1, 9, 5, (48, 56, 218), 75), (10, 0, 7, 4, (214, 165, 64), 60), (57, 1, 9, 5, (212, 41, 160), 90),
     (8, 0, 1, 8, (255, 255, 255), 60), (38, 1, 4, 5, (30, 30, 30), 90), (3, 0, 0, 6, (128, 128, 128), 75)],
)
def test_jpeg_pairs_in_coloured_frames(seed, axis, gutter, frame, colour, quality):
    """Pair images as puzzle sites publish them: a frame, a gutter (or none), JPEG. Saturated colours at low
    quality bleed several px into the frame and gutter, so the pictures are found to within a few px; the
    finder, run as `mark1 diff --split` runs it (edge=3), still reports exactly the changed objects."""
    pair = make_pair(height=96, width=120, n_changes=3, n_objects=5, object_size=10, seed=seed, shift=(3, -2),
                     noise=3)
    inner = join(pair.a, pair.b, axis, gutter, colour)
    image = np.empty((inner.shape[0] + 2 * frame, inner.shape[1] + 2 * frame, 3), dtype=np.uint8)
    image[...] = colour
    image[frame:-frame, frame:-frame] = inner
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    split = vision.split_pair(np.asarray(Image.open(buffer).convert("RGB")))
    assert split.direction == ("side-by-side" if axis == 1 else "stacked")
    assert abs(split.a.shape[0] - 96) <= 8 and abs(split.a.shape[1] - 120) <= 8
    regions = vision.find_differences(split.a, split.b, edge=3)
    assert_regions_at(regions, pair.changes, offset=(split.origin_a[0] - frame, split.origin_a[1] - frame))
