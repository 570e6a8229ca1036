"""The Sudoku datasets of the reasoning study: solver, generator, augmentation,
the Sudoku-Extreme CSV loader, the TRM/HRM split format and the build script."""
from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyscale.errors import ConfigError, DataError
from tinyscale.reasoning import augment as aug
from tinyscale.reasoning import dataset as ds
from tinyscale.reasoning import sudoku as S

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "workflow/scripts/reasoning/build_dataset.py"
B4, B6, B9 = S.BOARDS[4], S.BOARDS[6], S.BOARDS[9]

# Arto Inkala's 2012 puzzle ("the world's hardest Sudoku"), with its solution
HARD = ("8........" "..36....." ".7..9.2.." ".5...7..." "....457.." "...1...3." "..1....68" "..85...1." ".9....4..")
HARD_SOLUTION = ("812753649" "943682175" "675491283" "154237896" "369845721"
                 "287169534" "521974368" "438526917" "796318452")


# ----------------------------------------------------------------------------- references


def all_4x4_grids() -> np.ndarray:
    """Every valid 4x4 grid, by row-by-row backtracking over permutations (no library code)."""
    perms = list(itertools.permutations(range(1, 5)))
    grids = []

    def ok(rows):
        r = len(rows) - 1
        for c in range(4):
            if any(rows[k][c] == rows[r][c] for k in range(r)):
                return False
        if r % 2 == 1:
            for bc in (0, 2):
                if len({rows[r - 1][bc], rows[r - 1][bc + 1], rows[r][bc], rows[r][bc + 1]}) != 4:
                    return False
        return True

    def rec(rows):
        if len(rows) == 4:
            grids.append(np.array(rows, np.uint8).ravel())
            return
        for p in perms:
            if ok(rows + [p]):
                rec(rows + [p])

    rec([])
    return np.stack(grids)


def brute_count(puzzle, b: S.Board, cap: int = 10 ** 6) -> int:
    """Completions of ``puzzle`` by plain backtracking over its blanks (first blank,
    every digit that does not repeat in its row, column or box), up to ``cap``."""
    n = b.size
    g = [int(v) for v in np.asarray(puzzle).ravel()]
    blanks = [i for i, v in enumerate(g) if v == 0]

    def allowed(i, d):
        r, c = divmod(i, n)
        r0, c0 = r - r % b.box_rows, c - c % b.box_cols
        for j in range(n):
            if g[r * n + j] == d or g[j * n + c] == d:
                return False
        for rr in range(r0, r0 + b.box_rows):
            for cc in range(c0, c0 + b.box_cols):
                if g[rr * n + cc] == d:
                    return False
        return True

    def rec(k):
        if k == len(blanks):
            return 1
        i, total = blanks[k], 0
        for d in range(1, n + 1):
            if allowed(i, d):
                g[i] = d
                total += rec(k + 1)
                g[i] = 0
                if total >= cap:
                    break
        return total

    return rec(0)


# ----------------------------------------------------------------------------- boards and solver


def test_boards():
    assert (B4.box_rows, B4.box_cols, B6.box_rows, B6.box_cols, B9.box_rows, B9.box_cols) == (2, 2, 2, 3, 3, 3)
    assert [(b.seq_len, b.vocab_size) for b in (B4, B6, B9)] == [(16, 6), (36, 8), (81, 11)]
    assert (B6.bands, B6.stacks, B6.square_boxes, B9.square_boxes) == (3, 2, False, True)
    assert S.board(6) is B6
    with pytest.raises(ConfigError, match="board size 5"):
        S.board(5)


def test_known_hard_puzzle():
    p, s = S.parse(HARD, B9), S.parse(HARD_SOLUTION, B9)
    assert S.is_valid_solution(s, B9)[0] and S.agrees(p, s)[0]
    assert S.count_solutions(p, B9) == 1
    assert S.format_grid(S.solve(p, B9), B9) == HARD_SOLUTION
    assert S.givens(p[None])[0] == 21


def test_two_solutions_and_counting():
    s = S.parse(HARD_SOLUTION, B9).reshape(9, 9)
    # an unavoidable rectangle: two rows of one band, two columns of different stacks, digits a b / b a
    r1, r2, c1, c2 = next((r1, r2, c1, c2) for r1, r2 in itertools.combinations(range(9), 2) if r1 // 3 == r2 // 3
                          for c1, c2 in itertools.combinations(range(9), 2) if c1 // 3 != c2 // 3
                          and s[r1, c1] == s[r2, c2] and s[r1, c2] == s[r2, c1])
    p = s.copy()
    p[[r1, r1, r2, r2], [c1, c2, c1, c2]] = 0
    assert S.count_solutions(p.ravel(), B9) == 2
    assert S.count_solutions(p.ravel(), B9, limit=100) == 2
    assert S.count_solutions(p.ravel(), B9, limit=1) == 1
    assert S.count_solutions(np.zeros(16, np.uint8), B4, limit=1000) == 288   # every 4x4 grid
    assert S.count_solutions(np.zeros(81, np.uint8), B9) == 2                 # stops at the limit


def test_invalid_puzzles_have_no_solution():
    p = S.parse(HARD, B9)
    p[1] = 8                                  # a second 8 in the first row (the first cell holds one)
    assert S.count_solutions(p, B9) == 0 and S.solve(p, B9) is None
    q = np.zeros((9, 9), np.uint8)            # no repeated digit, but the first row's last cell has no digit left
    q[0, :8] = np.arange(1, 9)
    q[5, 8] = 9
    assert S.count_solutions(q.ravel(), B9) == 0
    counts, sols = S.count_solutions_batch(np.stack([p, q.ravel(), S.parse(HARD, B9)]), B9)
    assert list(counts) == [0, 0, 1] and not sols[0].any() and S.format_grid(sols[2], B9) == HARD_SOLUTION


def test_validity_checks_are_batched():
    s = S.parse(HARD_SOLUTION, B9)
    swapped = s.copy()
    swapped[[0, 1]] = swapped[[1, 0]]          # row still a permutation, two columns and a box not
    blank = s.copy()
    blank[40] = 0
    ten = s.copy()
    ten[0] = 10
    grids = np.stack([s, swapped, blank, ten])
    assert list(S.is_valid_solution(grids, B9)) == [True, False, False, False]
    assert list(S.is_valid_solution(grids.reshape(4, 9, 9), B9)) == [True, False, False, False]
    p = S.parse(HARD, B9)
    wrong = p.copy()
    wrong[0] = 9
    assert list(S.agrees(np.stack([p, wrong, np.zeros(81, np.uint8)]), np.stack([s, s, s]))) == [True, False, True]


def test_counts_agree_with_brute_force_on_random_4x4_puzzles():
    grids = all_4x4_grids()
    assert len(grids) == 288 and S.is_valid_solution(grids, B4).all()
    rng = np.random.default_rng(0)
    puzzles = np.where(rng.random((300, 16)) < rng.uniform(0.1, 0.7, (300, 1)),
                       grids[rng.integers(0, 288, 300)], 0).astype(np.uint8)
    puzzles[:20, 0] = puzzles[:20, 1] = 1      # some with a repeated digit: no solution
    counts, sols = S.count_solutions_batch(puzzles, B4, limit=1000)
    expected = [(S.agrees(np.broadcast_to(p, grids.shape), grids)).sum() for p in puzzles]
    assert list(counts) == expected
    assert (S.agrees(puzzles[counts > 0], sols[counts > 0])).all()
    assert S.is_valid_solution(sols[counts > 0], B4).all()


# ----------------------------------------------------------------------------- generator


def test_generated_4x4_puzzles_are_unique_by_brute_force():
    grids = all_4x4_grids()
    # exact duplicates only: 4 givens have just 13 classes, fewer than the ~28 puzzles that draw 4 here
    puzzles, solutions = S.generate(200, B4, (4, 10), seed=1, inequivalent=False)
    for p, s in zip(puzzles, solutions):
        match = S.agrees(np.broadcast_to(p, grids.shape), grids)
        assert match.sum() == 1 and (grids[match][0] == s).all()
    assert set(S.givens(puzzles)) <= set(range(4, 11)) and 4 in set(S.givens(puzzles))


def test_generated_6x6_puzzles_are_unique_by_brute_force():
    puzzles, solutions = S.generate(6, B6, (10, 14), seed=2)
    assert S.is_valid_solution(solutions, B6).all() and S.agrees(puzzles, solutions).all()
    for p in puzzles:
        assert brute_count(p, B6, cap=2) == 1
    # and the solver's counts on puzzles with several solutions
    rng = np.random.default_rng(3)
    loose = np.where(rng.random(solutions.shape) < 0.6, solutions, 0).astype(np.uint8)
    counts, _ = S.count_solutions_batch(loose, B6, limit=50)
    assert list(counts) == [brute_count(p, B6, cap=50) for p in loose]


def test_generator_is_seeded_distinct_and_in_range():
    a = S.generate(40, B9, [26, 32], seed=7)
    b = S.generate(40, B9, [26, 32], seed=7)
    c = S.generate(40, B9, [26, 32], seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    puzzles, solutions = a
    g = S.givens(puzzles)
    assert g.min() >= 26 and g.max() <= 32 and len(set(g)) > 1
    assert len({p.tobytes() for p in puzzles}) == 40
    assert S.is_valid_solution(solutions, B9).all() and S.agrees(puzzles, solutions).all()
    assert (S.count_solutions_batch(puzzles, B9)[0] == 1).all()
    assert (S.givens(S.generate(5, B6, 12, seed=0)[0]) == 12).all()


def test_generator_exclude():
    first, _ = S.generate(60, B4, 6, seed=0)
    again, _ = S.generate(60, B4, 6, seed=0, exclude=first)
    assert not {p.tobytes() for p in first} & {p.tobytes() for p in again}
    # not even equivalent: no puzzle of ``again`` is a transform of one of ``first``
    assert len(set(S.class_keys(np.concatenate([first, again]), B4))) == 120
    exact, _ = S.generate(60, B4, 6, seed=0, exclude=first, inequivalent=False)
    assert not {p.tobytes() for p in first} & {p.tobytes() for p in exact}


@pytest.mark.parametrize("board,givens,match", [
    (B9, 16, "givens 16: .* at least 17"), (B4, 3, "givens 3"), (B6, [7, 12], "givens 7"),
    (B9, [30, 25], "low end"), (B4, 17, "only 16 cells"), (B4, "5", "expected an integer"),
    (B4, [4, 5, 6], "expected an integer"), (B4, True, "expected an integer"),
])
def test_generator_rejects_impossible_givens(board, givens, match):
    with pytest.raises(ConfigError, match=match):
        S.generate(3, board, givens, seed=0)


def test_generator_gives_up_on_unreachable_counts(monkeypatch):
    monkeypatch.setattr(S, "MAX_ATTEMPTS", 4)
    with pytest.raises(ConfigError, match="givens 18: this generator does not reach 18"):
        S.generate(2, B9, 18, seed=0)
    monkeypatch.setattr(S, "MAX_ATTEMPTS", 10 ** 6)
    monkeypatch.setattr(S, "GIVE_UP_AFTER", 10)
    with pytest.raises(ConfigError, match=r"givens 18: .*none of \d+ random grids"):
        S.generate(2, B9, 18, seed=0)


# ----------------------------------------------------------------------------- augmentation


def test_generator_float_stream_is_sequential():
    """What makes the whole-array and per-example augmentation agree."""
    a = np.random.default_rng(5).random((7, 34))
    rng = np.random.default_rng(5)
    assert np.array_equal(a, np.stack([rng.random(34) for _ in range(7)]))
    rng = np.random.default_rng(5)
    assert np.array_equal(a, np.concatenate([rng.random((3, 34)), rng.random((4, 34))]))


@pytest.mark.parametrize("b,givens", [(B4, (4, 8)), (B6, (10, 16)), (B9, (25, 35))])
def test_augmentation_properties(b, givens):
    n, n_aug = 12, 25
    puzzles, solutions = S.generate(n, b, givens, seed=4)
    inputs, labels = aug.augment(puzzles, solutions, b, n_aug, np.random.default_rng(9), chunk=37)
    per = 1 + n_aug
    assert inputs.shape == labels.shape == (n * per, b.cells) and inputs.dtype == np.uint8
    assert np.array_equal(inputs[::per], puzzles) and np.array_equal(labels[::per], solutions)
    assert S.is_valid_solution(labels, b).all() and S.agrees(inputs, labels).all()
    assert np.array_equal(S.givens(inputs), np.repeat(S.givens(puzzles), per))
    distinct = [len({x.tobytes() for x in inputs[i * per:(i + 1) * per]}) for i in range(n)]
    assert min(distinct) > per // 2                          # the transforms do change the puzzles
    loop_in, loop_lab = aug.augment_loop(puzzles, solutions, b, n_aug, np.random.default_rng(9))
    assert np.array_equal(loop_in, inputs) and np.array_equal(loop_lab, labels)


def test_augmentation_uses_every_transform():
    """Over many draws on 9x9: transposed and not, every digit moved, rows moved across bands."""
    src, dmap = aug._maps(np.random.default_rng(0).random((400, aug.draw_size(B9))), B9)
    transposed = ((src[:, :9] // 9) != (src[:, :1] // 9)).any(axis=1)  # the first row from a source column
    assert 150 < transposed.sum() < 250
    assert ((src[transposed, :9] % 9) == (src[transposed, :1] % 9)).all()
    assert (dmap[:, 1:] != np.arange(1, 10)).any(axis=0).all()
    assert (src[:, 0] // 9 // 3 != 0).any()                   # cell 0 takes a row from another band
    # a transposition only on square boxes: 6x6 keeps its 2x3 boxes (the validity check would fail else)
    src6, _ = aug._maps(np.random.default_rng(0).random((200, aug.draw_size(B6))), B6)
    assert ((src6 // 6)[:, :6] == (src6 // 6)[:, :1]).all()   # the first output row comes from one source row


def test_no_augmentations():
    p, s = S.generate(3, B4, 6, seed=0)
    inputs, labels = aug.augment(p, s, B4, 0, np.random.default_rng(0))
    assert np.array_equal(inputs, p) and np.array_equal(labels, s)


# ----------------------------------------------------------------------------- equivalence


def orbit(puzzle, b: S.Board, digit_perms=None) -> np.ndarray:
    """Every image of one puzzle under the group (brute force: each geometric
    transform with each digit permutation), (transforms x perms, N*N)."""
    perms = np.array(list(itertools.permutations(range(1, b.size + 1))) if digit_perms is None else digit_perms)
    maps = np.concatenate([np.zeros((len(perms), 1), np.uint8), perms], axis=1).astype(np.uint8)
    geo = np.asarray(puzzle)[S.geometry(b)]                              # (T, N*N)
    return maps[:, geo].reshape(-1, b.cells)                             # (perms * T, N*N)


def dense_canonical(puzzles, b: S.Board) -> np.ndarray:
    """The reference on 6x6: every geometric image at once, digits renamed in
    order of first appearance (a loop per cell), the smallest by np.lexsort."""
    out = []
    for p in puzzles:
        images = p[S.geometry(b)]
        renamed = np.zeros_like(images)
        for i, img in enumerate(images):
            names = {0: 0}
            for c, d in enumerate(img):
                names.setdefault(int(d), len(names))
                renamed[i, c] = names[int(d)]
        out.append(renamed[np.lexsort(renamed.T[::-1])[0]])
    return np.stack(out)


def test_geometry():
    for b, count in ((B4, 128), (B6, 3456)):
        g = S.geometry(b)
        assert g.shape == (count, b.cells) and len({r.tobytes() for r in g}) == count
        assert (np.sort(g, axis=1) == np.arange(b.cells)).all()             # each a permutation of the cells
    grid = S.generate(1, B6, 30, seed=0)[1][0]
    assert S.is_valid_solution(grid[S.geometry(B6)], B6).all()              # and each keeps a grid valid
    grid = S.generate(1, B4, 10, seed=0)[1][0]
    assert S.is_valid_solution(grid[S.geometry(B4)], B4).all()
    for call in (S.geometry, S.canonical):
        with pytest.raises(ValueError, match="too large to enumerate"):
            call(*((B9,) if call is S.geometry else (np.zeros(81, np.uint8), B9)))


def test_canonical_is_the_smallest_image():
    rng = np.random.default_rng(0)
    grids = all_4x4_grids()
    puzzles = np.where(rng.random((25, 16)) < rng.uniform(0.2, 0.8, (25, 1)),
                       grids[rng.integers(0, 288, 25)], 0).astype(np.uint8)
    expected = np.stack([min(orbit(p, B4), key=bytes) for p in puzzles])   # over all 128 x 4! images
    assert np.array_equal(S.canonical(puzzles, B4), expected)
    p6 = np.concatenate([S.generate(6, B6, (10, 22), seed=1)[0], np.zeros((1, 36), np.uint8)])
    assert np.array_equal(S.canonical(p6, B6), dense_canonical(p6, B6))


@pytest.mark.parametrize("b,givens", [(B4, (5, 9)), (B6, (12, 22))])
def test_canonical_is_equal_for_augmented_copies(b, givens):
    puzzles, solutions = S.generate(8, b, givens, seed=5)
    inputs, _ = aug.augment(puzzles, solutions, b, 40, np.random.default_rng(2))
    forms = S.canonical(inputs, b).reshape(8, 41, b.cells)
    assert (forms == forms[:, :1]).all()                                    # one form per group
    assert len({f.tobytes() for f in forms[:, 0]}) == 8                     # the puzzles' own differ
    assert len({x.tobytes() for x in inputs}) > 8 * 30                      # (the copies themselves differ)
    assert np.array_equal(S.canonical(forms[:, 0], b), forms[:, 0])         # a canonical form is its own
    assert np.array_equal(S.givens(forms[:, 0]), S.givens(puzzles))
    # digit relabelling alone
    perm = np.concatenate([[0], np.random.default_rng(3).permutation(b.size) + 1]).astype(np.uint8)
    assert np.array_equal(S.canonical(perm[puzzles], b), forms[:, 0])
    assert S.class_keys(perm[puzzles], b) == [f.tobytes() for f in forms[:, 0]]


def test_canonical_tells_inequivalent_puzzles_apart():
    two = np.zeros((2, 16), np.uint8)
    two[0, [0, 1]] = [1, 2]          # two givens sharing a row and a box
    two[1, [0, 5]] = [1, 2]          # sharing a box only: no transform puts them in one row or column
    a, b = S.canonical(two, B4)
    assert a.tobytes() != b.tobytes()
    # the 288 4x4 grids make two classes (the two essentially different Shidoku grids)
    assert len(set(S.class_keys(all_4x4_grids(), B4))) == 2
    # 9x9: the puzzles themselves are the keys
    p = S.parse(HARD, B9)
    assert S.class_keys(np.stack([p, p]), B9) == [p.tobytes()] * 2


def unique_4x4_puzzles(k: int) -> np.ndarray:
    """Every uniquely solvable 4x4 puzzle with ``k`` givens: grid g with cells m
    is unique iff no other grid agrees with g on all of m."""
    grids = all_4x4_grids()
    bits = 1 << np.arange(16)
    agree = ((grids[:, None, :] == grids[None, :, :]) * bits).sum(axis=2)  # (288, 288) cell masks
    masks = np.array([sum(1 << c for c in cells) for cells in itertools.combinations(range(16), k)])
    out = []
    for g, grid in enumerate(grids):
        others = np.delete(agree[g], g)
        m = masks[((masks[:, None] & ~others[None, :]) != 0).all(axis=1)]
        out.append(np.where((m[:, None] & bits) != 0, grid, 0))
    return np.concatenate(out).astype(np.uint8)


@pytest.mark.parametrize("k,total", [(4, 25728), (14, 34560), (15, 4608)])
def test_4x4_class_counts(k, total):
    """The table's counts, and the classes make a partition: their orbits (by
    brute force) add up to every uniquely solvable puzzle with k givens."""
    puzzles = unique_4x4_puzzles(k)
    assert len(puzzles) == total
    forms = {f.tobytes(): f for f in S.canonical(puzzles, B4)}
    assert len(forms) == S.INEQUIVALENT_4X4[k]
    assert sum(len({x.tobytes() for x in orbit(f, B4)}) for f in forms.values()) == total


# ----------------------------------------------------------------------------- CSV


@pytest.fixture(scope="module")
def sudoku9():
    """Eight uniquely solvable 9x9 puzzles and their solutions."""
    return S.generate(8, B9, (28, 34), seed=11)


def csv_text(puzzles, solutions, ratings=None, header="source,question,answer,rating") -> list[str]:
    lines = [header]
    for k, (p, s) in enumerate(zip(puzzles, solutions)):
        r = k * 3 if ratings is None else ratings[k]
        lines.append(f"set{k % 2},{S.format_grid(p, B9)},{S.format_grid(s, B9)},{r}")
    return lines


def write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    text = "\n".join(lines) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def test_load_csv(tmp_path, sudoku9):
    puzzles, solutions = sudoku9
    lines = csv_text(puzzles, solutions)
    for path in (write_lines(tmp_path / "a.csv", lines), write_lines(tmp_path / "a.csv.gz", lines, gz=True),
                 write_lines(tmp_path / "gz_without_suffix.csv", lines, gz=True)):
        p, s, r = ds.load_sudoku_csv(path)
        assert np.array_equal(p, puzzles) and np.array_equal(s, solutions) and list(r) == [0, 3, 6, 9, 12, 15, 18, 21]
        assert p.dtype == s.dtype == np.uint8


def test_load_csv_filters_and_subsample(tmp_path, sudoku9):
    puzzles, solutions = sudoku9
    path = write_lines(tmp_path / "a.csv", csv_text(puzzles, solutions))
    p, _, r = ds.load_sudoku_csv(path, min_rating=9)
    assert list(r) == [9, 12, 15, 18, 21] and np.array_equal(p, puzzles[3:])
    a = ds.load_sudoku_csv(path, subsample=4, seed=1)
    b = ds.load_sudoku_csv(path, subsample=4, seed=1)
    c = [ds.load_sudoku_csv(path, subsample=4, seed=k)[2] for k in range(2, 8)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(a[2]) == 4 and list(a[2]) == sorted(a[2]) and len(set(a[2])) == 4
    assert any(list(x) != list(a[2]) for x in c)
    p, s, r = ds.load_sudoku_csv(path, min_rating=9, subsample=5, seed=0)
    assert list(r) == [9, 12, 15, 18, 21]
    with pytest.raises(DataError, match=r"a\.csv: a subsample of 6 puzzles .* only 5 puzzles with rating >= 9"):
        ds.load_sudoku_csv(path, min_rating=9, subsample=6)


def _defect(lines, what):
    """``lines`` with one defect at line 3 (the second puzzle) or as ``what`` says."""
    src, q, a, r = lines[2].split(",")
    qa = list(q)
    blanks = [i for i, c in enumerate(q) if c == "."]
    if what == "header":
        return ["source,puzzle,answer,rating"] + lines[1:], 1, "header"
    if what == "fields":
        return lines[:2] + [lines[2] + ",extra"] + lines[3:], 3, "expected 4 fields.*found 5"
    if what == "empty line":
        return lines[:2] + [""] + lines[2:], 3, "found 0 .an empty line"
    if what == "short question":
        return lines[:2] + [f"{src},{q[:80]},{a},{r}"] + lines[3:], 3, "question has 80 characters"
    if what == "long answer":
        return lines[:2] + [f"{src},{q},{a}1,{r}"] + lines[3:], 3, "answer has 82 characters"
    if what == "zero in question":
        qa[blanks[0]] = "0"
        return lines[:2] + [f"{src},{''.join(qa)},{a},{r}"] + lines[3:], 3, "question holds the character '0'"
    if what == "letter in question":
        qa[blanks[0]] = "x"
        return lines[:2] + [f"{src},{''.join(qa)},{a},{r}"] + lines[3:], 3, "question holds the character 'x'"
    if what == "non-ascii in question":
        qa[blanks[0]] = "é"
        return lines[:2] + [f"{src},{''.join(qa)},{a},{r}"] + lines[3:], 3, "question holds the character 'é'"
    if what == "blank in answer":
        return lines[:2] + [f"{src},{q},.{a[1:]},{r}"] + lines[3:], 3, "answer holds the character '.'"
    if what == "rating":
        return lines[:2] + [f"{src},{q},{a},1.5"] + lines[3:], 3, "rating '1.5' is not"
    if what == "negative rating":
        return lines[:2] + [f"{src},{q},{a},-2"] + lines[3:], 3, "rating '-2' is not"
    if what == "invalid answer":
        # swap two answer digits of one row at blanks of the question: agrees, but columns repeat
        row = next(r for r in range(9) if sum(q[r * 9 + c] == "." for c in range(9)) >= 2)
        i, j = [row * 9 + c for c in range(9) if q[row * 9 + c] == "."][:2]
        aa = list(a)
        aa[i], aa[j] = aa[j], aa[i]
        return lines[:2] + [f"{src},{q},{''.join(aa)},{r}"] + lines[3:], 3, "not a valid Sudoku grid"
    if what == "disagreeing given":
        i = next(k for k, c in enumerate(q) if c != ".")
        qa[i] = str(int(q[i]) % 9 + 1)
        return lines[:2] + [f"{src},{''.join(qa)},{a},{r}"] + lines[3:], 3, "disagrees with the question at row"
    raise AssertionError(what)


DEFECTS = ["header", "fields", "empty line", "short question", "long answer", "zero in question",
           "letter in question", "non-ascii in question", "blank in answer", "rating", "negative rating",
           "invalid answer", "disagreeing given"]


@pytest.mark.parametrize("what", DEFECTS)
@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gz"])
def test_load_csv_defects(tmp_path, sudoku9, what, gz):
    lines, line, match = _defect(csv_text(*sudoku9), what)
    path = write_lines(tmp_path / ("bad.csv.gz" if gz else "bad.csv"), lines, gz=gz)
    with pytest.raises(DataError, match=match) as err:
        ds.load_sudoku_csv(path)
    assert str(err.value).startswith(f"{path}, line {line}: "), str(err.value)


def test_load_csv_reports_the_first_defect_across_chunks(tmp_path, sudoku9, monkeypatch):
    monkeypatch.setattr(ds, "CSV_CHUNK", 2)
    lines = csv_text(*sudoku9)
    lines[6] = lines[6].replace(",15", ",fifteen")            # line 7, in the third chunk
    lines[8] = lines[8] + ",extra"                             # line 9: a structural defect further on
    path = write_lines(tmp_path / "bad.csv", lines)
    with pytest.raises(DataError, match=r"bad\.csv, line 7: the rating 'fifteen'"):
        ds.load_sudoku_csv(path)
    lines[6] = csv_text(*sudoku9)[6]
    with pytest.raises(DataError, match=r"bad\.csv, line 9: expected 4 fields"):
        ds.load_sudoku_csv(write_lines(path, lines))
    lines[4] = lines[4].replace(",9", ",nine")                 # line 5 wins over line 9
    with pytest.raises(DataError, match=r"bad\.csv, line 5: the rating 'nine'"):
        ds.load_sudoku_csv(write_lines(path, lines))


def test_load_csv_file_defects(tmp_path, sudoku9):
    with pytest.raises(DataError, match="missing.csv: file not found"):
        ds.load_sudoku_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: empty file"):
        ds.load_sudoku_csv(tmp_path / "empty.csv")
    write_lines(tmp_path / "header.csv", ["source,question,answer,rating"])
    with pytest.raises(DataError, match="header.csv: no puzzles"):
        ds.load_sudoku_csv(tmp_path / "header.csv")
    good = gzip.compress(("\n".join(csv_text(*sudoku9)) + "\n").encode())
    (tmp_path / "cut.csv.gz").write_bytes(good[:len(good) // 2])
    with pytest.raises(DataError, match="cut.csv.gz: not a readable gzip file"):
        ds.load_sudoku_csv(tmp_path / "cut.csv.gz")
    (tmp_path / "crc.csv.gz").write_bytes(good[:-8] + bytes(8))
    with pytest.raises(DataError, match="crc.csv.gz: not a readable gzip file"):
        ds.load_sudoku_csv(tmp_path / "crc.csv.gz")
    write_lines(tmp_path / "plain.csv.gz", csv_text(*sudoku9))
    with pytest.raises(DataError, match="plain.csv.gz: not a gzip file"):
        ds.load_sudoku_csv(tmp_path / "plain.csv.gz")
    (tmp_path / "latin1.csv").write_bytes(b"source,question,answer,rating\n\xff\xfe,1,2,3\n")
    with pytest.raises(DataError, match="latin1.csv: not UTF-8"):
        ds.load_sudoku_csv(tmp_path / "latin1.csv")


# ----------------------------------------------------------------------------- split format


def split_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_write_and_load_split(tmp_path):
    p, s = S.generate(10, B4, 6, seed=0)
    inputs, labels = aug.augment(p, s, B4, 3, np.random.default_rng(0))
    ds.write_split(tmp_path / "train", ds.encode(inputs), ds.encode(labels), 10, B4)
    assert split_files(tmp_path / "train") == set(ds.SPLIT_FILES) | {"dataset.json"}
    assert split_files(tmp_path) == {"train"}                  # no temporary leftovers
    d = ds.load_split(tmp_path / "train")
    assert d["inputs"].dtype == d["labels"].dtype == np.uint8
    assert d["puzzle_identifiers"].dtype == d["puzzle_indices"].dtype == d["group_indices"].dtype == np.int32
    assert np.array_equal(d["puzzle_indices"], np.arange(41)) and not d["puzzle_identifiers"].any()
    assert np.array_equal(d["group_indices"], np.arange(0, 41, 4))
    assert d["metadata"] == {"seq_len": 16, "vocab_size": 6, "pad_id": 0, "ignore_label_id": 0,
                             "blank_identifier_id": 0, "num_puzzle_identifiers": 1, "total_groups": 10,
                             "mean_puzzle_examples": 1, "total_puzzles": 10, "sets": ["all"]}
    assert np.array_equal(ds.decode(d["inputs"]), inputs) and np.array_equal(ds.decode(d["labels"]), labels)
    # written again: replaced whole
    ds.write_split(tmp_path / "train", ds.encode(p), ds.encode(s), 10, B4)
    assert len(ds.load_split(tmp_path / "train")["inputs"]) == 10 and split_files(tmp_path) == {"train"}
    with pytest.raises(ValueError, match="label tokens"):
        ds.write_split(tmp_path / "bad", ds.encode(p), ds.encode(p), 10, B4)
    with pytest.raises(ValueError, match="groups of equal size"):
        ds.write_split(tmp_path / "bad", ds.encode(p), ds.encode(s), 3, B4)
    assert split_files(tmp_path) == {"train"}


def write_original_split(directory: Path, inputs, labels, per_group: int, b: S.Board) -> None:
    """A split as the original TRM/HRM script writes it, with numpy alone."""
    directory.mkdir(parents=True)
    n = len(inputs)
    np.save(directory / "all__inputs.npy", (np.asarray(inputs) + 1).astype(np.uint8))
    np.save(directory / "all__labels.npy", (np.asarray(labels) + 1).astype(np.uint8))
    np.save(directory / "all__puzzle_identifiers.npy", np.zeros(n, np.int32))
    np.save(directory / "all__puzzle_indices.npy", np.arange(n + 1, dtype=np.int32))
    np.save(directory / "all__group_indices.npy", np.arange(0, n + 1, per_group, dtype=np.int32))
    (directory / "dataset.json").write_text(json.dumps({
        "pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": b.size + 2,
        "seq_len": b.cells, "num_puzzle_identifiers": 1, "total_groups": n // per_group,
        "mean_puzzle_examples": 1, "total_puzzles": n // per_group, "sets": ["all"]}))


def test_load_a_split_of_the_original_script(tmp_path, sudoku9):
    p, s = sudoku9
    inputs, labels = aug.augment(p, s, B9, 7, np.random.default_rng(1))
    write_original_split(tmp_path / "train", inputs, labels, 8, B9)
    write_original_split(tmp_path / "test", p, s, 1, B9)
    train, test = ds.load_split(tmp_path / "train"), ds.load_split(tmp_path / "test", mmap=True)
    assert train["inputs"].shape == (64, 81) and list(train["group_indices"]) == list(range(0, 65, 8))
    assert train["metadata"]["total_groups"] == 8 and len(test["group_indices"]) == 9
    assert S.is_valid_solution(ds.decode(train["labels"]), B9).all()
    assert np.array_equal(ds.decode(test["inputs"]), p)


def _break(d: Path, how: str) -> str:
    """Damage the split in ``d``; the file name the error must name."""
    def save(name, a):
        np.save(d / name, a)

    meta = json.loads((d / "dataset.json").read_text())
    if how == "missing inputs":
        (d / "all__inputs.npy").unlink()
        return "all__inputs.npy: file not found"
    if how == "missing metadata":
        (d / "dataset.json").unlink()
        return "dataset.json: file not found"
    if how == "corrupt npy":
        (d / "all__labels.npy").write_bytes(b"not numpy")
        return "all__labels.npy: not a readable"
    if how == "group indices start":
        save("all__group_indices.npy", np.array([1, 4, 8, 12], np.int32))
        return "all__group_indices.npy: starts at 1"
    if how == "group indices not increasing":
        save("all__group_indices.npy", np.array([0, 8, 4, 12], np.int32))
        return "all__group_indices.npy: not increasing"
    if how == "group indices end":
        save("all__group_indices.npy", np.array([0, 4, 8], np.int32))
        return "all__group_indices.npy: ends at 8, expected 12"
    if how == "puzzle indices end":
        save("all__puzzle_indices.npy", np.arange(12, dtype=np.int32))
        return "all__puzzle_indices.npy: ends at 11, expected 12"
    if how == "token outside vocab":
        a = np.load(d / "all__inputs.npy")
        a[3, 5] = 6
        save("all__inputs.npy", a)
        return "all__inputs.npy: tokens outside 0..5"
    if how == "seq_len":
        meta["seq_len"] = 81
        (d / "dataset.json").write_text(json.dumps(meta))
        return "all__inputs.npy: shape (12, 16), expected (examples, 81)"
    if how == "labels shape":
        save("all__labels.npy", np.load(d / "all__labels.npy")[:10])
        return "all__labels.npy: shape (10, 16)"
    if how == "identifiers shape":
        save("all__puzzle_identifiers.npy", np.zeros(5, np.int32))
        return "all__puzzle_identifiers.npy: shape (5,)"
    if how == "total_groups":
        meta["total_groups"] = 4
        (d / "dataset.json").write_text(json.dumps(meta))
        return "dataset.json: total_groups is 4"
    if how == "float array":
        save("all__puzzle_indices.npy", np.arange(13, dtype=np.float32))
        return "all__puzzle_indices.npy: expected an integer array"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing inputs", "missing metadata", "corrupt npy", "group indices start",
                                 "group indices not increasing", "group indices end", "puzzle indices end",
                                 "token outside vocab", "seq_len", "labels shape", "identifiers shape",
                                 "total_groups", "float array"])
def test_load_split_rejects_a_broken_split(tmp_path, how):
    p, s = S.generate(3, B4, 6, seed=0)
    inputs, labels = aug.augment(p, s, B4, 3, np.random.default_rng(0))
    ds.write_split(tmp_path / "train", ds.encode(inputs), ds.encode(labels), 3, B4)
    message = _break(tmp_path / "train", how)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")) as err:
        ds.load_split(tmp_path / "train")
    assert str(tmp_path / "train") in str(err.value)


# ----------------------------------------------------------------------------- build and script


def test_build_generated(tmp_path):
    out = tmp_path / "data" / "sudoku-6x6"
    summary = ds.build(out, "generate", 6, 12, 5, 4, seed=3, givens=[10, 14])
    assert split_files(out) == {"train", "test", "identifiers.json"} and split_files(out.parent) == {"sudoku-6x6"}
    assert json.loads((out / "identifiers.json").read_text()) == ["<blank>"]
    train, test = ds.load_split(out / "train"), ds.load_split(out / "test")
    assert train["inputs"].shape == (60, 36) and test["inputs"].shape == (5, 36)
    assert list(train["group_indices"]) == list(range(0, 61, 5)) and list(test["group_indices"]) == list(range(6))
    assert train["metadata"]["vocab_size"] == 8 and train["metadata"]["total_groups"] == 12
    labels, inputs = ds.decode(train["labels"]), ds.decode(train["inputs"])
    assert S.is_valid_solution(labels, B6).all() and S.agrees(inputs, labels).all()
    originals = {x.tobytes() for x in inputs[::5]}
    assert len(originals) == 12 and not originals & {x.tobytes() for x in ds.decode(test["inputs"])}
    assert (S.count_solutions_batch(ds.decode(test["inputs"]), B6)[0] == 1).all()
    assert summary["train_examples"] == 60 and summary["test_puzzles"] == 5
    again = tmp_path / "again"
    ds.build(again, "generate", 6, 12, 5, 4, seed=3, givens=[10, 14])
    for split in ("train", "test"):
        for name in ds.SPLIT_FILES:
            assert np.array_equal(np.load(out / split / name), np.load(again / split / name))


@pytest.mark.parametrize("size,givens,n_train,n_test", [(4, [6, 8], 60, 30), (6, [18, 22], 30, 15)])
def test_built_splits_are_inequivalent(tmp_path, size, givens, n_train, n_test):
    b = S.BOARDS[size]
    summary = ds.build(tmp_path / "d", "generate", size, n_train, n_test, 4, seed=0, givens=givens)
    assert summary["distinct"] == "inequivalent"
    train, test = ds.load_split(tmp_path / "d/train"), ds.load_split(tmp_path / "d/test")
    train_in = ds.decode(train["inputs"])
    firsts = S.class_keys(train_in[train["group_indices"][:-1]], b)        # each training group's first example
    tests = S.class_keys(ds.decode(test["inputs"]), b)
    assert len(set(firsts)) == n_train and len(set(tests)) == n_test       # none equivalent inside a split
    assert not set(firsts) & set(tests)                                     # nor across
    assert set(S.class_keys(train_in, b)) == set(firsts)                    # augmentations stay in their class


def test_generated_4x4_at_few_classes():
    """What the check is for: at 5 givens (96 classes) exact-duplicate removal
    alone leaves equivalent puzzles; by default none are."""
    exact, _ = S.generate(60, B4, 5, seed=0, inequivalent=False)
    assert len(set(S.class_keys(exact, B4))) < 60
    puzzles, solutions = S.generate(60, B4, 5, seed=0)
    assert len(set(S.class_keys(puzzles, B4))) == 60
    again = S.generate(60, B4, 5, seed=0)                                   # still seeded
    assert np.array_equal(again[0], puzzles) and np.array_equal(again[1], solutions)


def test_build_rejects_more_puzzles_than_classes(tmp_path, monkeypatch):
    spec = {"source": "generate", "size": 4, "givens": 4, "train_puzzles": 10, "test_puzzles": 5,
            "augmentations": 2}
    with pytest.raises(ConfigError, match=r"10 training \+ 5 test puzzles of 4x4 \(2x2 boxes\): givens 4: 15 of "
                                          r"the 15 puzzles asked for drew 4 givens, but a 4x4 .* has only 13 "
                                          r"inequivalent"):
        ds.build_from_spec(tmp_path / "out", spec, seed=0)
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())
    ds.build_from_spec(tmp_path / "out", {**spec, "train_puzzles": 8}, seed=0)    # 13 classes: 8 + 5 fit
    # where the table does not decide (as on 6x6), the generator runs out of new classes and says so
    monkeypatch.setitem(S.INEQUIVALENT_4X4, 4, 10 ** 6)
    monkeypatch.setattr(S, "MAX_ATTEMPTS", 64)
    with pytest.raises(ConfigError, match=r"givens 4: 15 of the 15 puzzles asked for drew 4 givens, but \d+ "
                                          r"random grids .* found only 13 inequivalent puzzles"):
        ds.build_from_spec(tmp_path / "out2", spec, seed=0)
    assert not (tmp_path / "out2").exists()


def test_build_from_csv(tmp_path, sudoku9):
    p, s = sudoku9
    csv_dir = tmp_path / "sudoku-extreme"
    csv_dir.mkdir()
    write_lines(csv_dir / "train.csv.gz", csv_text(p[:6], s[:6]), gz=True)
    write_lines(csv_dir / "test.csv", csv_text(p[6:], s[6:], ratings=[0, 50]))
    spec = {"source": "csv", "size": 9, "givens": None, "train_puzzles": None, "test_puzzles": None,
            "augmentations": 3, "csv_dir": str(csv_dir), "min_rating": 3, "subsample": 4}
    summary = ds.build_from_spec(tmp_path / "out", spec, seed=0)
    train, test = ds.load_split(tmp_path / "out/train"), ds.load_split(tmp_path / "out/test")
    assert train["inputs"].shape == (16, 81) and summary["train_puzzles"] == 4
    assert np.array_equal(ds.decode(test["inputs"]), p[7:])     # min_rating filters the test file too
    train_originals = {x.tobytes() for x in ds.decode(train["inputs"])[::4]}
    assert train_originals <= {x.tobytes() for x in p[1:6]}       # rating >= 3: rows 1-5
    with pytest.raises(DataError, match="a subsample of 6 puzzles"):
        ds.build_from_spec(tmp_path / "out2", {**spec, "subsample": 6}, seed=0)
    assert not (tmp_path / "out2").exists()


def test_build_writes_nothing_for_bad_input(tmp_path, sudoku9):
    p, s = sudoku9
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    write_lines(csv_dir / "train.csv", csv_text(p[:6], s[:6]))
    lines = csv_text(p[6:], s[6:])
    lines[2] = lines[2][:-1] + "x"
    write_lines(csv_dir / "test.csv", lines)
    spec = {"source": "csv", "augmentations": 2, "csv_dir": str(csv_dir)}
    with pytest.raises(DataError, match=r"test\.csv, line 3: the rating"):
        ds.build_from_spec(tmp_path / "out" / "sudoku", spec, seed=0)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with pytest.raises(DataError, match="has neither test.csv nor test.csv.gz"):
        (csv_dir / "test.csv").unlink()
        ds.build_from_spec(tmp_path / "out" / "sudoku", spec, seed=0)


@pytest.mark.parametrize("spec,match", [
    ({"source": "generate", "size": 4, "givens": 6, "train_puzzles": 2, "test_puzzles": 1, "augmentations": 1,
      "colour": 1}, "unknown key.* colour"),
    ({"source": "file", "augmentations": 1}, "source is 'file'"),
    ({"source": "generate", "size": 5, "givens": 6, "train_puzzles": 2, "test_puzzles": 1, "augmentations": 1},
     "size is 5"),
    ({"source": "generate", "size": 4, "givens": 6, "train_puzzles": 0, "test_puzzles": 1, "augmentations": 1},
     "train_puzzles is 0"),
    ({"source": "generate", "size": 4, "givens": 6, "train_puzzles": 2, "test_puzzles": 1, "augmentations": -1},
     "augmentations is -1"),
    ({"source": "generate", "size": 4, "givens": 2, "train_puzzles": 2, "test_puzzles": 1, "augmentations": 1},
     "givens 2"),
    ({"source": "csv", "size": 4, "augmentations": 1, "csv_dir": "x"}, "size is 4"),
    ({"source": "csv", "augmentations": 1, "csv_dir": None}, "csv_dir is None"),
    ({"source": "csv", "augmentations": 1, "csv_dir": "x", "subsample": 0}, "subsample is 0"),
    ([1, 2], "expected a JSON object"),
])
def test_build_rejects_bad_specs(tmp_path, spec, match):
    with pytest.raises(ConfigError, match=match):
        ds.build_from_spec(tmp_path / "out", spec, seed=0)
    assert not (tmp_path / "out").exists()


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_script_end_to_end(tmp_path, sudoku9):
    out = tmp_path / "results/reasoning/data/sudoku-4x4"
    spec = {"source": "generate", "size": 4, "givens": [4, 6], "train_puzzles": 8, "test_puzzles": 3,
            "augmentations": 5, "csv_dir": None, "min_rating": None, "subsample": None}
    proc = run_script("--out", str(out), "--spec", json.dumps(spec), "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert "generated 11/11" in proc.stderr and "48 training examples" in proc.stderr
    assert split_files(out) == {"train", "test", "identifiers.json"} and split_files(out.parent) == {"sudoku-4x4"}
    meta = json.loads((out / "train/dataset.json").read_text())
    assert meta == {"seq_len": 16, "vocab_size": 6, "pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0,
                    "num_puzzle_identifiers": 1, "total_groups": 8, "mean_puzzle_examples": 1,
                    "total_puzzles": 8, "sets": ["all"]}
    assert np.load(out / "train/all__inputs.npy").shape == (48, 16)
    assert np.load(out / "test/all__labels.npy").shape == (3, 16)

    # a bad CSV: exit status 2, one error line naming the file and line, no output directory
    p, s = sudoku9
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    lines = csv_text(p, s)
    lines[4] = lines[4].replace(",", ";", 1)
    write_lines(csv_dir / "train.csv", lines)
    write_lines(csv_dir / "test.csv", csv_text(p, s))
    bad_out = tmp_path / "results/reasoning/data/sudoku-extreme"
    spec = {"source": "csv", "size": 9, "givens": None, "train_puzzles": None, "test_puzzles": None,
            "augmentations": 2, "csv_dir": str(csv_dir), "min_rating": None, "subsample": None}
    proc = run_script("--out", str(bad_out), "--spec", json.dumps(spec))
    assert proc.returncode == 2, proc.stderr
    assert f"error: {csv_dir / 'train.csv'}, line 5: expected 4 fields" in proc.stderr
    assert split_files(bad_out.parent) == {"sudoku-4x4"}
