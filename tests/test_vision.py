"""The difference finder on every usable backend: seeded pairs with known changes, shifted and noisy.

Images stay at 64×64 or smaller because the CUDA-simulator step runs these tests too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mark1 as m1
from mark1 import vision
from mark1.vision.synthetic import make_pair


def overlap_ratio(found: tuple, true: tuple) -> float:
    """Intersection over the true box's area: 1.0 when the found box covers the true one."""
    w = min(found[2], true[2]) - max(found[0], true[0])
    h = min(found[3], true[3]) - max(found[1], true[1])
    return max(w, 0) * max(h, 0) / ((true[2] - true[0]) * (true[3] - true[1]))


def assert_matches(regions: list, truth: list) -> None:
    """Each true change has exactly one region covering it, tightly, and every region is a true change."""
    assert len(regions) == len(truth), f"found {[r.box for r in regions]}, expected {truth}"
    for true in truth:
        hits = [r for r in regions if overlap_ratio(r.box, true) > 0]
        assert len(hits) == 1, f"change {true}: regions {[r.box for r in hits]}"
        box = hits[0].box
        assert overlap_ratio(box, true) >= 0.9, f"{box} does not cover {true}"
        assert (box[2] - box[0]) * (box[3] - box[1]) <= 1.5 * (true[2] - true[0]) * (true[3] - true[1])


def textured_pair(size: tuple[int, int] = (40, 48)) -> tuple[np.ndarray, np.ndarray]:
    """Two copies of one grainy picture (values 42..208), to be changed by the test."""
    a = make_pair(*size, n_changes=0, n_objects=0, noise=0.0, shift=(0, 0), seed=11).a
    return a, a.copy()


@pytest.mark.parametrize(("seed", "shift"), [(0, (2, -3)), (1, (0, 0)), (2, (-4, 1)), (3, (5, 5))])
def test_finds_every_change_and_nothing_else(backend, seed, shift):
    pair = make_pair(seed=seed, shift=shift, noise=5.0)
    result = vision.compare(pair.a, pair.b)
    assert result.shift == shift
    assert_matches(result.regions, pair.changes)
    for region in result.regions:
        assert 35 < region.score <= 255 and region.area >= 20
        assert all(isinstance(v, int) for v in region.box)


def test_same_result_on_every_backend(backend):
    pair = make_pair(seed=7, shift=(-2, 2), noise=6.0)
    result = vision.compare(pair.a, pair.b)
    assert result.shift == (-2, 2)  # the generator's truth first: on numpy the rest compares numpy with itself
    assert_matches(result.regions, pair.changes)
    if backend.name == "numpy":
        return
    with m1.backend("numpy"):
        reference = vision.compare(pair.a, pair.b)
    assert result.shift == reference.shift
    assert np.array_equal(result.mask, reference.mask)
    assert [(r.box, r.area) for r in result.regions] == [(r.box, r.area) for r in reference.regions]
    for got, want in zip(result.regions, reference.regions, strict=True):
        assert got.score == pytest.approx(want.score, rel=1e-5)


def test_identical_and_noise_only_pictures_have_no_differences(backend):
    pair = make_pair(seed=4, n_changes=0, shift=(1, -2), noise=6.0)
    assert vision.find_differences(pair.a, pair.a) == []
    assert vision.find_differences(pair.a, pair.b) == []


def test_threshold_is_strict_and_score_is_the_mean_difference(backend):
    a, b = textured_pair()
    b[10:20, 5:15] += 36   # every channel off by 36: above the default threshold
    b[25:35, 30:40, 1] -= 35  # one channel off by exactly 35: not above it
    regions = vision.find_differences(a, b, blur=0)
    assert [(r.box, r.area, r.score) for r in regions] == [((5, 10, 15, 20), 100, 36.0)]
    # the blur lowers a barely-above-threshold patch's rim below the threshold: the box loses that rim only
    regions = vision.find_differences(a, b)
    assert [(r.box, r.area, r.score) for r in regions] == [((6, 11, 14, 19), 64, 36.0)]


def test_min_area_drops_small_regions(backend):
    a, b = textured_pair()
    b[4:8, 4:9] = 250  # 20 px
    regions = vision.find_differences(a, b, min_area=20)
    assert [r.area for r in regions] == [20]
    assert vision.find_differences(a, b, min_area=21) == []


def test_nearby_pixels_merge_into_one_region(backend):
    a, b = textured_pair()
    b[5:12, 5:12] = 0
    b[5:12, 15:22] = 0   # 3 px apart: the same object
    b[28:36, 38:46] = 0  # far away: its own region
    boxes = sorted(r.box for r in vision.find_differences(a, b))
    assert boxes == [(5, 5, 22, 12), (38, 28, 46, 36)]
    apart = sorted(r.box for r in vision.find_differences(a, b, merge=1))
    assert apart == [(5, 5, 12, 12), (15, 5, 22, 12), (38, 28, 46, 36)]


def test_edge_option_ignores_the_border_band(backend):
    a, b = textured_pair()
    b[:, :4] = 255          # a 4 px band along the left edge (like JPEG colour bleed from a gutter)
    b[20:30, 20:30] = 0     # and a real change
    boxes = [r.box for r in vision.find_differences(a, b, max_shift=0)]
    assert sorted(boxes) == [(0, 0, 4, 40), (20, 20, 30, 30)]
    assert [r.box for r in vision.find_differences(a, b, max_shift=0, edge=3)] == [(20, 20, 30, 30)]
    with pytest.raises(vision.VisionInputError, match="edge=-1"):
        vision.find_differences(a, b, edge=-1)


def test_single_noisy_pixels_are_not_differences(backend):
    a, b = textured_pair()
    rng = np.random.default_rng(5)
    ys, xs = rng.integers(0, 40, 30), rng.integers(0, 48, 30)
    b[ys, xs] = 255  # isolated specks, far above the threshold
    assert vision.find_differences(a, b, min_area=1) == []


def test_grey_and_non_contiguous_inputs(backend):
    pair = make_pair(seed=5, shift=(0, 0))
    grey_a, grey_b = pair.a[:, :, 0], pair.b[:, :, 0]
    assert len(vision.find_differences(grey_a, grey_b)) >= 1
    alpha = np.full((*pair.a.shape[:2], 1), 255, dtype=np.uint8)  # RGBA: the alpha channel is ignored
    rgba = vision.find_differences(np.concatenate([pair.a, alpha], 2), np.concatenate([pair.b, 0 * alpha], 2))
    assert [r.box for r in rgba] == [r.box for r in vision.find_differences(pair.a, pair.b)]
    big_a = np.repeat(np.repeat(pair.a, 2, axis=0), 2, axis=1)
    big_b = np.repeat(np.repeat(pair.b, 2, axis=0), 2, axis=1)
    regions = vision.find_differences(big_a[::2, ::2], big_b[::2, ::2])  # strided views of the same pictures
    assert [r.box for r in regions] == [r.box for r in vision.find_differences(pair.a, pair.b)]


def test_box_in_the_second_picture():
    region = vision.Region(box=(3, 4, 10, 12), area=40, score=80.0)
    assert region.shifted((2, -1)) == (2, 6, 9, 14)
    assert (region.width, region.height) == (7, 8)
    assert region.to_dict() == {"box": [3, 4, 10, 12], "area": 40, "score": 80.0}


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), "differ in size"),
        (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8), "dtype float32"),
        (np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8, 2), np.uint8), r"shape \(8, 8, 2\)"),
        (np.zeros((0, 8, 3), np.uint8), np.zeros((0, 8, 3), np.uint8), "empty"),
        ([[1, 2]], np.zeros((8, 8, 3), np.uint8), "is a list"),
    ],
)
def test_bad_pictures_are_refused_clearly(a, b, message):
    with pytest.raises(vision.VisionInputError, match=message):
        vision.find_differences(a, b)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"threshold": -1}, "threshold=-1"), ({"threshold": 255}, "threshold=255"), ({"min_area": 0}, "min_area=0"),
     ({"max_shift": -2}, "max_shift=-2"), ({"min_area": 2.5}, "min_area=2.5"), ({"merge": -1}, "merge=-1")],
)
def test_bad_options_are_refused_clearly(options, message):
    a, b = textured_pair()
    with pytest.raises(vision.VisionInputError, match=message):
        vision.find_differences(a, b, **options)


def test_inputs_are_not_modified():
    pair = make_pair(seed=6)
    a, b = pair.a.copy(), pair.b.copy()
    vision.find_differences(a, b)
    assert np.array_equal(a, pair.a) and np.array_equal(b, pair.b)


def test_a_realistic_size_pair():
    """640x480, 8 changes among 33 objects, shifted by (-5, 7): about 1 s on one CPU core (numpy backend)."""
    pair = make_pair(height=480, width=640, n_changes=8, n_objects=25, object_size=24, shift=(-5, 7), noise=6.0,
                     seed=21)
    result = vision.compare(pair.a, pair.b, max_shift=12)
    assert result.shift == (-5, 7)
    assert_matches(result.regions, pair.changes)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), dy=st.integers(-6, 6), dx=st.integers(-6, 6), noise=st.floats(0.0, 8.0))
def test_any_seeded_pair_is_solved(seed, dy, dx, noise):
    pair = make_pair(seed=seed, shift=(dy, dx), noise=noise)
    with m1.backend("numpy"):
        result = vision.compare(pair.a, pair.b)
    assert result.shift == (dy, dx)
    assert_matches(result.regions, pair.changes)


def test_read_only_pictures(backend):
    """np.asarray(PIL image) is read-only: the finder must take it on every backend."""
    pair = make_pair(seed=8)
    a, b = pair.a.copy(), pair.b.copy()
    a.flags.writeable = b.flags.writeable = False
    assert [r.box for r in vision.find_differences(a, b)] == [r.box for r in vision.find_differences(pair.a, pair.b)]


@pytest.mark.gpu
def test_gpu_matches_the_numpy_backend_on_a_realistic_size():
    pair = make_pair(height=480, width=640, n_changes=8, n_objects=25, object_size=24, shift=(4, -6), noise=6.0,
                     seed=22)
    with m1.backend("cuda"):
        result = vision.compare(pair.a, pair.b)
    with m1.backend("numpy"):
        reference = vision.compare(pair.a, pair.b)
    assert result.shift == reference.shift == (4, -6)
    assert np.array_equal(result.mask, reference.mask)
    assert [r.box for r in result.regions] == [r.box for r in reference.regions]
