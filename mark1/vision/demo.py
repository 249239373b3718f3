"""Make the README's example of `mark1 diff`: python -m mark1.vision.demo --out docs/

Builds a seeded "spot the difference" pair image (two pictures of one scene side by side with a gutter,
the second shifted by a few pixels, with noise and six objects changed), runs the same steps as
`mark1 diff PAIR.png --split -o ...`, and writes docs/diff_example.png (the marked result) and
docs/diff_example_pair.png (the input).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from mark1 import vision
from mark1.vision.synthetic import make_pair

GUTTER_PX = 10


def make_example(out_dir: Path) -> list[vision.Region]:
    pair = make_pair(height=180, width=240, n_changes=6, n_objects=9, object_size=20, shift=(2, -3), noise=3.0,
                     grain=10.0, seed=2)
    gutter = np.full((pair.a.shape[0], GUTTER_PX, 3), 255, dtype=np.uint8)
    image = np.concatenate([pair.a, gutter, pair.b], axis=1)
    split = vision.split_pair(image)
    result = vision.compare(split.a, split.b)
    marked = vision.draw_differences(split.a, split.b, result.regions, result.shift)
    out_dir.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette keeps the PNGs small enough to sit in the repository (well under 200 KB)
    Image.fromarray(image).quantize(256).save(out_dir / "diff_example_pair.png", optimize=True)
    Image.fromarray(marked).quantize(256).save(out_dir / "diff_example.png", optimize=True)
    missed = [box for box in pair.changes if not any(r.box == box for r in result.regions)]
    print(f"{len(result.regions)} differences found ({len(pair.changes)} made, {len(missed)} missed), "
          f"shift dx={result.shift[1]:+d} dy={result.shift[0]:+d}; wrote {out_dir / 'diff_example.png'}")
    return result.regions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the PNGs (default: here)")
    make_example(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
