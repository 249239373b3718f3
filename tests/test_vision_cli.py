"""`mark1 diff` end to end on temporary files: outputs, and bad input giving exit status 2 and one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mark1.cli import main
from mark1.vision.synthetic import make_pair

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path):
    pair = make_pair(seed=3, shift=(2, -3))
    Image.fromarray(pair.a).save(tmp_path / "a.png")
    Image.fromarray(pair.b).save(tmp_path / "b.png")
    gutter = np.full((64, 6, 3), 250, dtype=np.uint8)
    Image.fromarray(np.concatenate([pair.a, gutter, pair.b], axis=1)).save(tmp_path / "pair.png")
    return tmp_path, pair


def test_two_files_to_marked_png_and_json(files, capsys):
    tmp, pair = files
    out, listing = tmp / "marked.png", tmp / "regions.json"
    assert main(["diff", str(tmp / "a.png"), str(tmp / "b.png"), "-o", str(out), "--json", str(listing),
                 "--backend", "numpy"]) == 0
    printed = capsys.readouterr().out
    assert "3 difference(s)" in printed and "dx=-3, dy=+2" in printed
    regions = json.loads(listing.read_text())
    assert sorted(tuple(r["box"]) for r in regions) == sorted(pair.changes)
    assert [r["id"] for r in regions] == [1, 2, 3]
    for r in regions:
        x0, y0, x1, y1 = r["box"]
        assert r["box_second"] == [x0 - 3, y0 + 2, x1 - 3, y1 + 2]
        assert r["area"] >= 20 and 35 < r["score"] <= 255
    with Image.open(out) as marked:
        assert marked.size == (2 * 320 + 12, 320)


def test_split_pair_json_on_stdout(files, capsys):
    tmp, pair = files
    assert main(["diff", str(tmp / "pair.png"), "--split", "--json", "-", "--min-area", "10"]) == 0
    captured = capsys.readouterr()
    assert sorted(tuple(r["box"]) for r in json.loads(captured.out)) == sorted(pair.changes)
    assert "side-by-side, 64x64 each, at (x, y) = (0, 0) and (70, 0), gutter 6 px" in captured.err


def test_different_sizes_need_resize(files, capsys):
    tmp, _ = files
    small = tmp / "small.png"
    Image.open(tmp / "b.png").resize((48, 48)).save(small)
    assert main(["diff", str(tmp / "a.png"), str(small)]) == 2
    assert "differ in size" in capsys.readouterr().err
    assert main(["diff", str(tmp / "a.png"), str(small), "--resize"]) == 0
    assert "resized the second to 64x64" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{tmp}/missing.png", "{tmp}/b.png"], "missing.png: no such file"),
        (["{tmp}/notes.txt", "{tmp}/b.png"], "notes.txt: not an image"),
        (["{tmp}", "{tmp}/b.png"], "is a directory"),
        (["{tmp}/a.png"], "expected two images"),
        (["{tmp}/a.png", "{tmp}/b.png", "--split"], "--split takes one image"),
        (["{tmp}/a.png", "--split"], "does not look like two pictures"),
        (["{tmp}/a.png", "{tmp}/b.png", "-o", "{tmp}/no/such/dir/out.png"], "does not exist"),
        (["{tmp}/a.png", "{tmp}/b.png", "-o", "{tmp}/out.xyz"], "unknown image format"),
        (["{tmp}/a.png", "{tmp}/b.png", "--threshold", "400"], "threshold=400"),
        (["{tmp}/a.png", "{tmp}/b.png", "--min-area", "0"], "min_area=0"),
        (["{tmp}/a.png", "{tmp}/b.png", "--merge", "-1"], "merge=-1"),
        (["{tmp}/a.png", "{tmp}/b.png", "--blur", "-3"], "blur=-3"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, argv, message):
    tmp, _ = files
    (tmp / "notes.txt").write_text("not a picture")
    assert main(["diff", *(arg.format(tmp=tmp) for arg in argv)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("mark1 diff: error:") and err.count("\n") == 1
    assert not (tmp / "out.xyz").exists()


def test_unusable_backend_is_a_clear_error(files, capsys):
    tmp, _ = files
    code = main(["diff", str(tmp / "a.png"), str(tmp / "b.png"), "--backend", "cuda"])
    if code == 0:
        pytest.skip("the cuda backend is usable here")
    assert code == 2 and "mark1 diff: error:" in capsys.readouterr().err


def test_command_line_process_has_no_traceback(files):
    tmp, _ = files
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "mark1.cli", "diff", str(tmp / "a.png"), str(tmp / "nope.png")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip() == f"mark1 diff: error: {tmp / 'nope.png'}: no such file"


def test_timing_command_runs(capsys):
    from mark1.vision.demo import time_compare

    time_compare(sizes=((120, 160),), repeats=1)  # `python -m mark1.vision.demo --time`, at a tiny size
    printed = capsys.readouterr().out
    assert "160x120: compare" in printed and "(8/8 changes found)" in printed


def test_readme_example_is_reproducible(tmp_path, capsys):
    from mark1.vision.demo import make_example

    regions = make_example(tmp_path)
    assert len(regions) == 6
    assert "6 differences found (6 made, 0 missed)" in capsys.readouterr().out
    for name in ("diff_example.png", "diff_example_pair.png"):
        assert (tmp_path / name).stat().st_size < 200_000
        with Image.open(tmp_path / name) as png:
            png.verify()


def test_jpeg_pictures(tmp_path, capsys):
    """JPEG blurs colour edges (chroma subsampling): every change is still one box, at most 3 px larger."""
    pair = make_pair(height=96, width=128, n_changes=4, n_objects=6, object_size=12, seed=5, shift=(2, -3), noise=3)
    for name, picture in (("a.jpg", pair.a), ("b.jpg", pair.b)):
        Image.fromarray(picture).save(tmp_path / name, quality=75)
    assert main(["diff", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), "--json", "-"]) == 0
    boxes = [r["box"] for r in json.loads(capsys.readouterr().out)]
    assert len(boxes) == len(pair.changes)
    for x0, y0, x1, y1 in pair.changes:
        assert any(bx0 <= x0 and by0 <= y0 and bx1 >= x1 and by1 >= y1
                   and bx0 >= x0 - 3 and by0 >= y0 - 3 and bx1 <= x1 + 3 and by1 <= y1 + 3
                   for bx0, by0, bx1, by1 in boxes), f"{(x0, y0, x1, y1)} not boxed in {boxes}"


def test_images_are_read_upright_and_as_rgb(tmp_path):
    from mark1.vision import load_image

    picture = make_pair(height=20, width=30, n_changes=0, n_objects=0, seed=1).a
    rotated = Image.fromarray(picture).rotate(90, expand=True)  # stored on its side, EXIF says "rotate back"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    rotated.save(tmp_path / "photo.png", exif=exif)
    assert np.array_equal(load_image(tmp_path / "photo.png"), picture)
    Image.fromarray(picture).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(picture[:, :, 0]).save(tmp_path / "grey.png")
    for name in ("palette.png", "grey.png"):
        loaded = load_image(tmp_path / name)
        assert loaded.shape == (20, 30, 3) and loaded.dtype == np.uint8


def test_doubtful_answers_come_with_a_note(tmp_path, capsys):
    pair = make_pair(height=64, width=64, n_changes=1, seed=4, shift=(0, 12))  # more than the default 8 px
    Image.fromarray(pair.a).save(tmp_path / "a.png")
    Image.fromarray(pair.b).save(tmp_path / "b.png")
    assert main(["diff", str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == 0
    assert "at the search limit (8 px)" in capsys.readouterr().err
    assert main(["diff", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--max-shift", "14"]) == 0
    captured = capsys.readouterr()
    assert "dx=+12, dy=+0" in captured.out and captured.err == ""
    rng = np.random.default_rng(0)
    for name in ("noise1.png", "noise2.png"):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / name)
    assert main(["diff", str(tmp_path / "noise1.png"), str(tmp_path / "noise2.png")]) == 0
    assert "over a quarter of the picture differs" in capsys.readouterr().err



def test_package_docstring_example_runs():
    import doctest

    import mark1.vision

    failures, tried = doctest.testmod(mark1.vision)
    assert tried >= 4 and failures == 0
