"""Scoring the difference finder on generated puzzles: `python -m mark1.vision.demo --eval 200`.

A change counts as found when a region's box touches its true box (both grown by SLACK px: JPEG and the
misregistration tolerance move box edges by a pixel or two). Per change kind: recall = found / made, and
precision = found / (found + extra fragments), where a change reported as several regions counts each
region after the first against it. A region touching no change is spurious; the report gives spurious
regions per puzzle and the largest spurious box as a share of the picture. Seeds 0-99 were used to choose
the method; the held-out evaluation uses seeds from HELD_OUT on.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

from mark1 import vision
from mark1.vision.puzzles import CHANGE_KINDS, make_puzzle
from mark1.vision.robust import Tuning

SLACK = 2
HELD_OUT = 10_000
VARIANTS = {  # name: (method, robust tuning): each robust step taken out in turn, and the plain method
    "robust": ("robust", Tuning()),
    "no cast removal": ("robust", Tuning(cast=False)),
    "no misregistration tolerance": ("robust", Tuning(tolerance=0)),
    "no blurred check": ("robust", Tuning(blurred=False)),
    "3x3 opening (no hysteresis)": ("robust", Tuning(hysteresis=False)),
    "integer shift only": ("robust", Tuning(subpixel=False)),
    "cast as a pure offset": ("robust", Tuning(ink=False)),
    "plain (before)": ("plain", None),
}


def _touches(box: tuple, true: tuple) -> bool:
    return not (box[2] + SLACK <= true[0] - SLACK or true[2] + SLACK <= box[0] - SLACK
                or box[3] + SLACK <= true[1] - SLACK or true[3] + SLACK <= box[1] - SLACK)


@dataclass
class Score:
    made: dict = field(default_factory=lambda: dict.fromkeys(CHANGE_KINDS, 0))
    found: dict = field(default_factory=lambda: dict.fromkeys(CHANGE_KINDS, 0))
    fragments: dict = field(default_factory=lambda: dict.fromkeys(CHANGE_KINDS, 0))
    puzzles: int = 0
    regions: int = 0
    spurious: int = 0
    largest_spurious: float = 0.0     # box area / picture area
    seconds: float = 0.0
    missed: list = field(default_factory=list)   # (seed, kind, box)

    def add(self, seed: int, puzzle, regions: list, seconds: float) -> None:
        self.puzzles += 1
        self.regions += len(regions)
        self.seconds += seconds
        area = puzzle.a.shape[0] * puzzle.a.shape[1]
        for kind, true in zip(puzzle.kinds, puzzle.changes, strict=True):
            hits = sum(_touches(r.box, true) for r in regions)
            self.made[kind] += 1
            self.found[kind] += hits > 0
            self.fragments[kind] += max(hits - 1, 0)
            if not hits:
                self.missed.append((seed, kind, true))
        for r in regions:
            if not any(_touches(r.box, true) for true in puzzle.changes):
                self.spurious += 1
                self.largest_spurious = max(self.largest_spurious, r.width * r.height / area)

    @property
    def recall(self) -> float:
        return sum(self.found.values()) / max(sum(self.made.values()), 1)

    def rows(self) -> list[str]:
        lines = ["| change kind | made | found | recall | precision |", "|---|---:|---:|---:|---:|"]
        for kind in CHANGE_KINDS:
            made, found, extra = self.made[kind], self.found[kind], self.fragments[kind]
            lines.append(f"| {kind} | {made} | {found} | {found / max(made, 1):.1%} | "
                         f"{found / max(found + extra, 1):.1%} |")
        total_found = sum(self.found.values())
        lines.append(f"| all | {sum(self.made.values())} | {total_found} | {self.recall:.1%} | "
                     f"{(self.regions - self.spurious) / max(self.regions, 1):.1%} (of all regions) |")
        return lines

    def summary(self) -> str:
        return (f"recall {self.recall:.1%}; spurious regions {self.spurious / max(self.puzzles, 1):.2f} per puzzle, "
                f"largest {self.largest_spurious:.2%} of the picture; {self.seconds / max(self.puzzles, 1) * 1e3:.0f} "
                f"ms per compare")


def evaluate(seeds: range, variants: list[str]) -> dict[str, Score]:
    """Each variant's Score over the puzzles of `seeds` (each puzzle made once, compared per variant)."""
    scores = {name: Score() for name in variants}
    for seed in seeds:
        puzzle = make_puzzle(seed)
        for name in variants:
            method, tuning = VARIANTS[name]
            start = time.perf_counter()
            regions = vision.compare(puzzle.a, puzzle.b, method=method, tuning=tuning).regions
            scores[name].add(seed, puzzle, regions, time.perf_counter() - start)
    return scores


def main(count: int, first_seed: int, variants: list[str] | None = None, show_missed: bool = False) -> dict:
    import mark1 as m1

    variants = variants or ["robust", "plain (before)"]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    seeds = range(first_seed, first_seed + count)
    scores = evaluate(seeds, variants)
    print(f"{count} generated puzzles, seeds {seeds.start}..{seeds.stop - 1}, backend {m1.get_backend().name}, "
          f"each with one change of every kind ({', '.join(CHANGE_KINDS)})")
    for name, score in scores.items():
        print(f"\n{name}: {score.summary()}")
        if name == variants[0]:
            print("\n".join(score.rows()))
        if show_missed and score.missed:
            print("missed:", score.missed[:20])
    return scores


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=HELD_OUT)
    parser.add_argument("--variants", default="robust,plain (before)", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--show-missed", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse()
    main(args.count, args.first_seed, args.variants.split(","), args.show_missed)
