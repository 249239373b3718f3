"""Make the README's examples of `mark1 diff`: python -m mark1.vision.demo --out docs/  (--time: timings;
--eval N: precision and recall over N generated line-art puzzles, see evaluate.py)

Builds a seeded "spot the difference" pair image (two pictures of one scene side by side with a gutter,
the second shifted by a few pixels, with noise and six objects changed), runs the same steps as
`mark1 diff PAIR.png --split -o ...`, and writes docs/diff_example.png (the marked result) and
docs/diff_example_pair.png (the input).
"""

from __future__ import annotations

import argparse
import time
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


PUZZLE_SEED = 9  # a tuning seed: a 38-level red cast over part of b, a global shift and gain, JPEG at 63


def make_puzzle_example(out_dir: Path) -> vision.DiffResult:
    """docs/diff_puzzle.png: a generated line-art puzzle (a colour cast on the second picture, 1-2 px strokes
    added and removed, JPEG, a fractional shift) marked by the robust method, its heatmap underneath."""
    from mark1.vision.puzzles import make_puzzle

    puzzle = make_puzzle(PUZZLE_SEED, width=360)
    result = vision.compare(puzzle.a, puzzle.b, method="robust")
    marked = vision.draw_differences(puzzle.a, puzzle.b, result.regions, result.shift)
    heat = vision.draw_evidence(puzzle.a, result)
    canvas = np.full((marked.shape[0] + 8 + heat.shape[0], marked.shape[1], 3), 255, dtype=np.uint8)
    canvas[:marked.shape[0]] = marked
    canvas[marked.shape[0] + 8:, :heat.shape[1]] = heat
    out_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).quantize(256).save(out_dir / "diff_puzzle.png", optimize=True)
    kinds = ", ".join(puzzle.kinds)
    print(f"puzzle seed {PUZZLE_SEED}: {len(result.regions)} differences found ({len(puzzle.changes)} made: {kinds}), "
          f"cast {puzzle.notes}; wrote {out_dir / 'diff_puzzle.png'}")
    return result


def _per_pixel_threshold(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 35).sum())


def _best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def time_compare(sizes=((480, 640), (1080, 1920)), repeats: int = 3) -> None:
    """compare() (both methods) next to the lecture demo's method measured in the same run, interleaved: every
    pixel with a channel differing by more than 35, in NumPy, with no alignment or grouping (the reference)."""
    import mark1 as m1

    be = m1.get_backend()
    print(f"backend {be.name} on {be.device}; best of {repeats} after a warm-up, interleaved")
    for height, width in sizes:
        pair = make_pair(height=height, width=width, n_changes=8, n_objects=40, object_size=max(8, height // 36),
                         shift=(3, -4), noise=5.0, seed=1)
        a, b = pair.a, pair.b
        work = {"plain": lambda a=a, b=b: (vision.compare(a, b), be.synchronize()),
                "robust": lambda a=a, b=b: (vision.compare(a, b, method="robust"), be.synchronize()),
                "reference": lambda a=a, b=b: _per_pixel_threshold(a, b)}
        for run in work.values():
            run()  # warm-up: imports, kernel compilation
        times = {name: [] for name in work}
        for _ in range(repeats):
            for name, run in work.items():
                times[name].append(_best_of(1, run))
        best = {name: min(t) for name, t in times.items()}
        found = len(vision.compare(a, b).regions)
        found_robust = len(vision.compare(a, b, method="robust").regions)
        flagged = _per_pixel_threshold(a, b)
        print(f"{width}x{height}: compare {best['plain'] * 1e3:.0f} ms ({found}/8 changes found), per-pixel threshold "
              f"{best['reference'] * 1e3:.0f} ms ({flagged} px flagged, no regions); ratio "
              f"{best['plain'] / best['reference']:.1f}x")
        print(f"{width}x{height}: compare method=robust {best['robust'] * 1e3:.0f} ms ({found_robust}/8 changes found),"
              f" {best['robust'] / best['plain']:.2f}x the plain method")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the PNGs (default: here)")
    parser.add_argument("--time", action="store_true", help="time compare() instead of writing the example")
    parser.add_argument("--eval", type=int, metavar="N", help="score the finder on N generated puzzles instead")
    parser.add_argument("--first-seed", type=int, default=None, help="--eval: first seed (default: the held-out ones)")
    parser.add_argument("--variants", default="robust,plain (before)",
                        help="--eval: comma-separated methods to score (see mark1.vision.evaluate.VARIANTS)")
    args = parser.parse_args(argv)
    if args.eval:
        from mark1.vision import evaluate

        first = evaluate.HELD_OUT if args.first_seed is None else args.first_seed
        evaluate.main(args.eval, first, args.variants.split(","))
    elif args.time:
        time_compare()
    else:
        make_example(args.out)
        make_puzzle_example(args.out)


if __name__ == "__main__":
    main()
