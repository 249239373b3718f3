"""Finding the shift between two pictures, and drawing the result."""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1
from mark1 import vision
from mark1.vision.align import overlap_slices
from mark1.vision.draw import BOX_COLOUR
from mark1.vision.synthetic import make_pair


@pytest.mark.parametrize("shift", [(0, 0), (3, -5), (-8, 8), (1, 7)])
def test_shift_is_found_within_max_shift(backend, shift):
    pair = make_pair(height=48, width=60, n_changes=1, seed=9, shift=shift, noise=5.0)
    a, b = m1.asarray(pair.a, dtype=np.uint8), m1.asarray(pair.b, dtype=np.uint8)
    assert vision.estimate_shift(a, b, max_shift=8) == shift


@pytest.mark.parametrize("shift", [(7, -13), (-20, 4)])
def test_shift_on_a_large_picture_uses_the_pyramid(shift):
    pair = make_pair(height=200, width=260, n_objects=10, seed=1, shift=shift, noise=6.0)
    with m1.backend("numpy"):
        assert vision.estimate_shift(pair.a, pair.b, max_shift=24) == shift


def test_featureless_picture_has_no_shift_and_max_shift_is_capped():
    flat = np.full((20, 30, 3), 77, dtype=np.uint8)
    with m1.backend("numpy"):
        assert vision.estimate_shift(flat, flat, max_shift=8) == (0, 0)
        pair = make_pair(height=16, width=40, n_changes=0, n_objects=0, seed=2, shift=(3, 3))
        # at most a quarter of the shorter side (4 px) is searched, so most of each picture is compared
        dy, dx = vision.estimate_shift(pair.a, pair.b, max_shift=100)
        assert abs(dy) <= 4 and abs(dx) <= 4
        assert vision.estimate_shift(pair.a, pair.b, max_shift=0) == (0, 0)


def test_overlap_slices_cover_the_shared_area():
    a_part, b_part = overlap_slices((10, 12), (2, -3))
    assert a_part == (slice(0, 8), slice(3, 12))
    assert b_part == (slice(2, 10), slice(0, 9))


def test_drawing_boxes_both_pictures_and_enlarges_small_ones():
    pair = make_pair(seed=4, shift=(2, -3))
    result = vision.compare(pair.a, pair.b)
    marked = vision.draw_differences(pair.a, pair.b, result.regions, result.shift)
    scale = 5  # 64 px pictures are drawn 5x so the numbers stay legible (>= 320 px)
    assert marked.shape == (64 * scale, 2 * 64 * scale + 12, 3) and marked.dtype == np.uint8
    red = np.all(marked == BOX_COLOUR, axis=2)
    for region in result.regions:
        for x_offset, (x0, y0, x1, y1) in ((0, region.box), (64 * scale + 12, region.shifted(result.shift))):
            x0, x1 = x0 * scale + x_offset, min(x1, 64) * scale + x_offset
            y0, y1 = y0 * scale, y1 * scale
            assert red[y0:y1, x0 - 1].all() and red[y0:y1, x1].all(), "left and right box edges"
    plain = vision.draw_differences(pair.a, pair.b, [])
    assert not np.all(plain == BOX_COLOUR, axis=2).any()
    assert np.array_equal(plain[::scale, : 64 * scale : scale], pair.a)
