"""Sudoku dataset build: whole-array augmentation vs the per-example loop, and the generator's rate.

1. Augmentation (what dominates the TRM/HRM build: 1000 training puzzles x 1000
   augmentations, 1001000 examples): :func:`tinyscale.reasoning.augment.augment`
   (whole-array, chunked) against :func:`augment_loop` (one example at a time,
   each drawing and applying its own permutations: the original builder's
   structure), from the same seed. The loop runs on the first ``--loop-puzzles``
   puzzles (all of their augmentations) and its time is scaled linearly to all
   puzzles (it says so); its output must equal the first groups of the
   whole-array build, which it does because both draw the same floats in the
   same order. The puzzles are random full 9x9 grids with random blanks (not
   necessarily uniquely solvable: the transforms do not care), so that this part
   measures augmentation only. Both sides include the shift to tokens.
2. The generator: puzzles/s on 4x4, 6x6 and 9x9 with the givens shown, the
   solver's uniqueness check of every puzzle included, and on 4x4 and 6x6 the
   removal of equivalent puzzles (no two are images of each other under the
   augmentation group: ``sudoku.canonical``; 9x9: exact duplicates). The 4x4
   run asks for 6-8 givens: 4 and 5 givens have only 13 and 96 classes, too few
   for 1000 inequivalent puzzles. "canonical s" is one more ``canonical`` call
   on the output alone (how much of the time the equivalence check takes).
3. The solver alone: counting solutions (up to 2) of the generated 9x9 puzzles
   and of a known hard one (Inkala's, copied), in one batch each.

    .venv/bin/python bench/sudoku_build.py             # the full run (about 20 s on 2 cores)
    .venv/bin/python bench/sudoku_build.py --quick     # tiny sizes: seconds

The numbers also go to bench/out/sudoku_build.json (``--out``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))   # runnable without an installed package

from tinyscale.reasoning import sudoku                 # noqa: E402
from tinyscale.reasoning.augment import augment, augment_loop   # noqa: E402

GENERATOR_RUNS = [  # size, givens, puzzles (full), puzzles (--quick)
    (4, [6, 8], 1000, 100),
    (6, [9, 16], 1000, 50),
    (6, [18, 22], 1000, 50),
    (9, [24, 30], 300, 10),
    (9, 22, 30, 2),
]


def random_puzzles(n: int, b: sudoku.Board, keep: float, rng: np.random.Generator):
    """``n`` random full grids and puzzles keeping each cell with probability ``keep``."""
    grids = sudoku.random_grids(n, b, rng)
    return np.where(rng.random(grids.shape) < keep, grids, 0).astype(np.uint8), grids


def bench_augment(n: int, n_aug: int, loop_puzzles: int, seed: int) -> dict:
    b = sudoku.BOARDS[9]
    puzzles, grids = random_puzzles(n, b, 0.35, np.random.default_rng(seed))
    start = time.perf_counter()
    inputs, labels = augment(puzzles, grids, b, n_aug, np.random.default_rng(seed))
    inputs += 1                                    # tokens, as the build writes them
    labels += 1
    vec_s = time.perf_counter() - start
    m = min(loop_puzzles, n)
    start = time.perf_counter()
    loop_in, loop_lab = augment_loop(puzzles[:m], grids[:m], b, n_aug, np.random.default_rng(seed))
    loop_in, loop_lab = loop_in + 1, loop_lab + 1
    loop_s = time.perf_counter() - start
    k = m * (1 + n_aug)
    identical = bool(np.array_equal(loop_in, inputs[:k]) and np.array_equal(loop_lab, labels[:k]))
    assert identical, "the whole-array build and the per-example loop differ"
    valid = bool(sudoku.is_valid_solution(labels[:k] - 1, b).all()
                 and sudoku.agrees(inputs[:k] - 1, labels[:k] - 1).all())
    assert valid, "an augmented example is not a valid puzzle / solution pair"
    loop_full_s = loop_s * n / m
    return {"puzzles": n, "augmentations": n_aug, "examples": len(inputs), "vectorised_s": vec_s,
            "loop_puzzles": m, "loop_s": loop_s, "loop_scaled_s": loop_full_s, "loop_scaled": m < n,
            "speedup": loop_full_s / vec_s, "identical": identical}


def bench_generate(size: int, givens, n: int, seed: int) -> dict:
    b = sudoku.BOARDS[size]
    start = time.perf_counter()
    puzzles, solutions = sudoku.generate(n, b, givens, seed)
    seconds = time.perf_counter() - start
    counts, _ = sudoku.count_solutions_batch(puzzles, b, limit=2)
    assert (counts == 1).all() and sudoku.is_valid_solution(solutions, b).all()
    assert sudoku.agrees(puzzles, solutions).all()
    g = sudoku.givens(puzzles)
    canonical_s = None
    if size in sudoku.CANONICAL_SIZES:
        start = time.perf_counter()
        keys = sudoku.class_keys(puzzles, b)
        canonical_s = time.perf_counter() - start
        assert len(set(keys)) == n, "the generator made equivalent puzzles"
    return {"generated": puzzles, "board": str(b), "givens": givens, "puzzles": n, "seconds": seconds,
            "puzzles_per_s": n / seconds, "mean_givens": float(g.mean()), "min_givens": int(g.min()),
            "max_givens": int(g.max()), "distinct": "inequivalent" if canonical_s is not None else "exact",
            "canonical_s": canonical_s}


HARD = ("8........" "..36....." ".7..9.2.." ".5...7..." "....457.." "...1...3." "..1....68" "..85...1." ".9....4..")


def bench_solver(name: str, puzzles: np.ndarray) -> dict:
    b = sudoku.BOARDS[9]
    start = time.perf_counter()
    counts, _ = sudoku.count_solutions_batch(puzzles, b, limit=2)
    seconds = time.perf_counter() - start
    assert (counts == 1).all()
    return {"puzzles": name, "n": len(puzzles), "seconds": seconds, "puzzles_per_s": len(puzzles) / seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--puzzles", type=int, default=1000, help="9x9 puzzles to augment")
    p.add_argument("--augmentations", type=int, default=1000, help="augmentations per puzzle")
    p.add_argument("--loop-puzzles", type=int, default=20,
                   help="puzzles the per-example loop runs on (its time is scaled to --puzzles)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="50 puzzles x 100, loop on 5; small generator runs")
    p.add_argument("--out", default=str(ROOT / "bench/out/sudoku_build.json"))
    a = p.parse_args()
    if a.quick:
        a.puzzles, a.augmentations, a.loop_puzzles = 50, 100, 5
    print(f"sudoku build bench: numpy {np.__version__}, seed {a.seed}{', quick' if a.quick else ''}", flush=True)

    r = bench_augment(a.puzzles, a.augmentations, a.loop_puzzles, a.seed)
    print(f"\n1. augmentation, 9x9: {r['puzzles']} puzzles x {r['augmentations']} augmentations "
          f"(+ the originals) = {r['examples']} examples")
    print(f"  whole-array build: {r['vectorised_s']:8.2f} s  ({r['examples'] / r['vectorised_s']:,.0f} examples/s)")
    scaled = (f"; {r['loop_puzzles']} puzzles took {r['loop_s']:.2f} s, scaled linearly to {r['puzzles']}"
              if r["loop_scaled"] else "")
    print(f"  per-example loop:  {r['loop_scaled_s']:8.2f} s{scaled}")
    print(f"  identical output (first {r['loop_puzzles']} groups): {r['identical']}")
    print(f"  speed-up whole-array / loop: {r['speedup']:.1f}x (goal >= 20x); "
          f"whole-array build {r['vectorised_s']:.2f} s (goal < 10 s for 1M examples)")

    runs = []
    print("\n2. generator (uniquely solvable, inequivalent on 4x4 and 6x6, distinct on 9x9; checks included)")
    print(f"  {'board':<18} {'givens':>9} {'puzzles':>8} {'seconds':>8} {'puzzles/s':>10} {'mean givens':>12} "
          f"{'canonical s':>12}")
    for size, givens, n_full, n_quick in GENERATOR_RUNS:
        g = bench_generate(size, givens, n_quick if a.quick else n_full, a.seed)
        runs.append(g)
        canon = "-" if g["canonical_s"] is None else f"{g['canonical_s']:.2f}"
        print(f"  {g['board']:<18} {json.dumps(givens):>9} {g['puzzles']:>8} {g['seconds']:>8.2f} "
              f"{g['puzzles_per_s']:>10.1f} {g['mean_givens']:>12.1f} {canon:>12}", flush=True)

    print("\n3. solver: counting solutions (up to 2), 9x9, one batch")
    solver = [bench_solver(f"generated, givens {json.dumps(g['givens'])}", g.pop("generated"))
              for g in runs if g["board"].startswith("9x9")]
    solver.append(bench_solver("Inkala's 21-given puzzle, copied",
                               np.tile(sudoku.parse(HARD, sudoku.BOARDS[9]), (20 if a.quick else 200, 1))))
    for s in solver:
        print(f"  {s['puzzles']:<34} {s['n']:>6} puzzles {s['seconds']:>7.2f} s {s['puzzles_per_s']:>9.1f} puzzles/s")
    for g in runs:
        g.pop("generated", None)

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"quick": a.quick, "seed": a.seed, "numpy": np.__version__,
                               "augment": r, "generator": runs, "solver": solver}, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
