"""mark1.data.load_idx on IDX files the test writes (plain and gzip), and its refusal of broken ones."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mark1.data import load_idx


def write_idx(path, array: np.ndarray, code: int, compress: bool = False) -> None:
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype,code", [(np.uint8, 0x08), (np.int16, 0x0B), (np.float32, 0x0D), (np.float64, 0x0E)])
def test_round_trip(tmp_path, dtype, code, compress):
    array = (np.arange(2 * 3 * 5) * 7 % 251).reshape(2, 3, 5).astype(dtype)
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    write_idx(path, array, code, compress)
    got = load_idx(path)
    assert got.shape == (2, 3, 5) and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, array)


def test_labels_file(tmp_path):
    write_idx(tmp_path / "labels", np.array([3, 1, 4], np.uint8), 0x08)
    np.testing.assert_array_equal(load_idx(tmp_path / "labels"), [3, 1, 4])


def test_broken_files_are_refused(tmp_path):
    (tmp_path / "bad").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((4, 4), np.uint8), 0x08)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"shape \(4, 4\).*needs 28 bytes, the file has 25"):
        load_idx(tmp_path / "short")
