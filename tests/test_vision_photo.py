"""The finder on a real photograph: scikit-learn's china.jpg, edited in four places, shifted, JPEG-compressed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mark1 import vision


@pytest.mark.parametrize("method", ["plain", "robust"])
def test_a_real_photograph_edited_shifted_and_jpeg_compressed(method):
    """scikit-learn's china.jpg (CC BY 2.0, danielbuechele on Flickr) with four edits, shifted, saved as JPEG."""
    datasets = pytest.importorskip("sklearn.datasets")
    photo = datasets.load_sample_image("china.jpg")  # 427x640 RGB
    edited, changes = photo.copy(), []
    for (x0, y0, w, h), edit in [
        ((100, 300, 40, 30), lambda part: photo[50:80, 400:440]),       # a piece of sky pasted on the building
        ((480, 320, 30, 40), lambda part: (part * 0.4).astype(np.uint8)),  # a tree darkened
        ((200, 60, 20, 20), lambda part: (250, 20, 20)),                 # a red square on the roof
        ((560, 30, 30, 25), lambda part: photo[330:355, 200:230]),       # a piece of roof in the sky
    ]:
        edited[y0:y0 + h, x0:x0 + w] = edit(edited[y0:y0 + h, x0:x0 + w])
        changes.append((x0 - 10, y0 - 10, x0 - 10 + w, y0 - 10 + h))  # picture a starts at (10, 10)
    dy, dx = 3, -2
    a, b = photo[10:410, 10:610], edited[10 - dy:410 - dy, 10 - dx:610 - dx]

    def jpeg(picture: np.ndarray) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, "JPEG", quality=85)
        return np.asarray(Image.open(buffer).convert("RGB"))

    result = vision.compare(jpeg(a), jpeg(b), method=method)
    assert result.shift == (dy, dx)
    assert len(result.regions) == len(changes), [r.box for r in result.regions]
    for x0, y0, x1, y1 in changes:
        assert any(abs(r.box[0] - x0) <= 2 and abs(r.box[1] - y0) <= 2 and abs(r.box[2] - x1) <= 2
                   and abs(r.box[3] - y1) <= 2 for r in result.regions), (x0, y0, x1, y1)
