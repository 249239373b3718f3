"""`mark1 diff`: find the differences between two pictures (two files, or one file holding both with --split).

    mark1 diff A.png B.png -o marked.png --json regions.json
    mark1 diff PAIR.png --split -o marked.png --heatmap evidence.png

The default method, "robust", is for real puzzles (JPEG line art, a colour cast on one half, 1-2 px strokes
changed); "--method plain" is the per-pixel rule (a channel differs by more than --threshold).

Bad input (missing file, not an image, different sizes without --resize, a --split image that is not two
pictures) prints one line naming the problem and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from mark1.backends import CHOICES
from mark1.vision.images import VisionInputError

EXIT_BAD_INPUT = 2
SPLIT_EDGE = 3  # px along the edges of split pictures where differences are not reported


def register(subparsers) -> None:
    p = subparsers.add_parser("diff", help="find the differences between two pictures",
                              description="Find the differences between two pictures: two files, or one file holding "
                              "both side by side or stacked (--split).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="two pictures A B, or one image holding both (--split)")
    p.add_argument("-o", "--output", metavar="PNG", help="write both pictures with the differences boxed and numbered")
    p.add_argument("--json", metavar="PATH", help="write the regions as a JSON list ('-' for standard output)")
    p.add_argument("--heatmap", metavar="PNG",
                   help="write picture A coloured by the difference evidence and the thresholds, regions boxed")
    p.add_argument("--method", choices=("robust", "plain"), default="robust",
                   help="robust (default): ignore colour casts and 1 px misregistration, keep thin strokes; "
                   "plain: every pixel whose channels differ by more than --threshold")
    p.add_argument("--split", action="store_true", help="IMAGE holds both pictures side by side or stacked")
    p.add_argument("--threshold", type=float, default=35.0,
                   help="a pixel differs when a channel differs by more than this (0..255, default 35; robust "
                   "method: beyond the colour cast and 1 px of misregistration, and half of it grows a region)")
    p.add_argument("--min-area", type=int, default=20, help="drop regions of fewer changed pixels (default 20; robust "
                   "method: unless 8 px long, a thin stroke)")
    p.add_argument("--max-shift", type=int, default=8,
                   help="largest misalignment between the pictures searched for, in px (default 8)")
    p.add_argument("--merge", type=int, default=4,
                   help="changed pixels up to 2*MERGE px apart are one region (default 4; raise for large pictures)")
    p.add_argument("--blur", type=int, default=3,
                   help="plain method's noise filter: a pixel's neighbourhood (BLUR x BLUR) must differ too "
                   "(default 3, 0: off)")
    p.add_argument("--resize", action="store_true", help="resize B to A's size when they differ")
    p.add_argument("--backend", default=None, choices=CHOICES,
                   help="where the arithmetic runs (default: MARK1_BACKEND, else auto)")
    p.set_defaults(run=run)


def _fail(message: str) -> int:
    print(f"mark1 diff: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _pictures(args, report):
    """(a, b, names) from the arguments: two files, or one file cut in two."""
    from mark1 import vision

    if args.split:
        if len(args.images) != 1:
            raise vision.VisionInputError(f"--split takes one image holding both pictures, got {len(args.images)}")
        path = args.images[0]
        try:
            pair = vision.split_pair(vision.load_image(path), max_shift=args.max_shift)
        except vision.VisionInputError as e:
            raise vision.VisionInputError(f"{path}: {e}") from None
        print(f"{path}: two pictures {pair.direction}, {pair.a.shape[1]}x{pair.a.shape[0]} each, at (x, y) = "
              f"{pair.origin_a} and {pair.origin_b}, gutter {pair.gutter[1] - pair.gutter[0]} px", file=report)
        return pair.a, pair.b, (f"{path} (first)", f"{path} (second)")
    if len(args.images) != 2:
        raise vision.VisionInputError(f"expected two images A B (or one with --split), got {len(args.images)}")
    a, b = (vision.load_image(p) for p in args.images)
    if a.shape != b.shape:
        sizes = f"{args.images[0]} is {a.shape[1]}x{a.shape[0]}, {args.images[1]} is {b.shape[1]}x{b.shape[0]}"
        if not args.resize:
            raise vision.VisionInputError(f"the pictures differ in size ({sizes}); pass --resize to compare anyway")
        print(f"note: {sizes}; resized the second to {a.shape[1]}x{a.shape[0]}", file=sys.stderr)
        b = vision.resize_to(b, a.shape[:2])
    return a, b, tuple(args.images)


def run(args: argparse.Namespace) -> int:
    import mark1 as m1
    from mark1 import vision

    report = sys.stderr if args.json == "-" else sys.stdout  # keep stdout pure JSON when it carries the JSON
    try:
        if args.output:
            vision.check_writable(args.output)
        if args.heatmap:
            vision.check_writable(args.heatmap)
        if args.json and args.json != "-":
            vision.check_writable(args.json, image=False)
        with m1.backend(args.backend) if args.backend else contextlib.nullcontext():
            a, b, names = _pictures(args, report)
            # pictures cut from one image: their edges carry the gutter's or frame's colour (JPEG bleed)
            edge = SPLIT_EDGE if args.split else 0
            result = vision.compare(a, b, args.threshold, args.min_area, max_shift=args.max_shift,
                                    blur=args.blur, merge=args.merge, edge=edge, method=args.method)
            backend_name = m1.get_backend().name
        dy, dx = result.shift
        fine = ("" if args.method == "plain" else
                f" (to a fraction: dx={result.subpixel[1]:+.2f}, dy={result.subpixel[0]:+.2f})")
        print(f"{names[0]} vs {names[1]}: {len(result.regions)} difference(s); second picture shifted by "
              f"dx={dx:+d}, dy={dy:+d} px{fine} (backend {backend_name}, method {args.method})", file=report)
        for number, region in enumerate(result.regions, start=1):
            print(f"  {number:3d}  box {region.box}  area {region.area} px  mean difference {region.score:.1f}",
                  file=report)
        _warn_if_doubtful(result, a.shape[:2], args.max_shift)
        if args.output:
            marked = vision.draw_differences(a, b, result.regions, result.shift)
            vision.save_image(marked, args.output)
            print(f"wrote {args.output}", file=report)
        if args.heatmap:
            vision.save_image(vision.draw_evidence(a, result), args.heatmap)
            print(f"wrote {args.heatmap}", file=report)
        if args.json:
            _write_json(args.json, result)
    except (vision.VisionInputError, m1.BackendUnavailable) as e:
        return _fail(str(e))
    return 0


def _warn_if_doubtful(result, shape: tuple[int, int], max_shift: int) -> None:
    """Notes (stderr) when the answer is probably not what the user wants: the shift hit the search limit,
    or most of the picture differs."""
    from mark1.vision.align import shift_limit

    limit = shift_limit(shape, max_shift)
    if limit and max(abs(v) for v in result.shift) == limit:
        print(f"note: the shift found is at the search limit ({limit} px); if the pictures are misaligned more, "
              "raise --max-shift", file=sys.stderr)
    if result.differing > 0.25:
        print("note: over a quarter of the picture differs; are these two pictures of one scene?", file=sys.stderr)


def _write_json(path: str, result) -> None:
    """The regions as a JSON list, one region per line: id (the number drawn), box and area in the first
    picture's pixels, score (mean difference), box_second (the same box in the second picture; with --resize,
    in the resized second picture)."""
    listing = [{"id": n, **r.to_dict(), "box_second": list(r.shifted(result.shift))}
               for n, r in enumerate(result.regions, start=1)]
    text = "[\n" + ",\n".join("  " + json.dumps(item) for item in listing) + "\n]\n" if listing else "[]\n"
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text)
    except OSError as e:
        raise VisionInputError(f"{path}: cannot write ({e.strerror or e})") from None
    print(f"wrote {path}")
