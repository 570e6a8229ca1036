"""Sudoku augmentation: validity-preserving transforms of a puzzle and its solution.

Each augmented example applies, to the puzzle and its solution alike: a
permutation of the digits 1..N, a transposition with probability 1/2 (square
boxes only: transposing a 2x3-box board would give 3x2 boxes), a permutation of
the bands (rows of boxes) and of the rows inside each band, and a permutation
of the stacks (columns of boxes) and of the columns inside each stack. Cell
``(r, c)`` of the result is cell ``(rows[r], cols[c])`` of the (transposed)
source, whose digit ``d`` becomes ``digits[d]``. Two puzzles are equivalent when
one is an image of the other under this group; :func:`tinyscale.reasoning.sudoku.canonical`
decides it (4x4 and 6x6), and generated datasets hold no two equivalent puzzles.

Random draws: every augmented example draws one row ``u`` of :func:`draw_size`
uniform floats (``rng.random(k)``) and derives all its permutations from it by
argsort of consecutive slices:

    u[0:N]                        digit permutation: digit d -> argsort(u[0:N])[d-1] + 1
    u[N]                          transpose if < 0.5 (ignored for non-square boxes)
    next bands floats             band order
    next N floats                 row order inside the band at each new band position
    next stacks floats            stack order
    next N floats                 column order inside the stack at each new stack position

A numpy Generator's float stream is consumed in order, so ``rng.random((m, k))``
equals ``m`` successive ``rng.random(k)``: the whole-array :func:`augment` and
the per-example :func:`augment_loop` give the same output from the same seed.
"""
from __future__ import annotations

import numpy as np

from .sudoku import Board, _as_batch

CHUNK = 32768
"""Augmented examples built per whole-array step (bounds the index arrays' memory)."""


def draw_size(b: Board) -> int:
    """Floats drawn per augmented example."""
    return 3 * b.size + 1 + b.bands + b.stacks


def _maps(u: np.ndarray, b: Board, offset: np.ndarray | int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(source cell per cell (m, N*N) int64, plus ``offset`` per example; digit map
    (m, N+1) with 0 -> 0) from the draws ``u`` (m, k)."""
    n, m = b.size, len(u)
    o = 0

    def take(width):
        nonlocal o
        s = u[:, o:o + width]
        o += width
        return s

    digits = np.argsort(take(n), axis=1, kind="stable") + 1
    transpose = ((take(1) < 0.5) & b.square_boxes)                 # (m, 1)
    band = np.argsort(take(b.bands), axis=1, kind="stable")
    in_band = np.argsort(take(n).reshape(m, b.bands, b.box_rows), axis=2, kind="stable")
    rows = (band[:, :, None] * b.box_rows + in_band).reshape(m, n)
    stack = np.argsort(take(b.stacks), axis=1, kind="stable")
    in_stack = np.argsort(take(n).reshape(m, b.stacks, b.box_cols), axis=2, kind="stable")
    cols = (stack[:, :, None] * b.box_cols + in_stack).reshape(m, n)
    # cell (r, c) <- source cell rows[r] * n + cols[c], or cols[c] * n + rows[r] when transposed
    row_part = np.where(transpose, rows, rows * n) + np.reshape(offset, (-1, 1))
    col_part = np.where(transpose, cols * n, cols)
    src = (row_part[:, :, None] + col_part[:, None, :]).reshape(m, b.cells)
    dmap = np.zeros((m, n + 1), np.uint8)
    dmap[:, 1:] = digits
    return src, dmap


def augment(puzzles, solutions, b: Board, n_aug: int, rng: np.random.Generator,
            chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels): uint8 digit grids of shape (n * (1 + n_aug), N*N).

    Grouped per puzzle: the original first, then its ``n_aug`` augmentations.
    Whole-array operations over ``chunk`` examples at a time; no loop per example.
    """
    p = np.ascontiguousarray(_as_batch(puzzles, b), dtype=np.uint8)
    s = np.ascontiguousarray(_as_batch(solutions, b), dtype=np.uint8)
    n, cells, k = len(p), b.cells, draw_size(b)
    per = 1 + n_aug
    inputs = np.empty((n * per, cells), np.uint8)
    labels = np.empty_like(inputs)
    inputs[::per], labels[::per] = p, s
    flat_p, flat_s = p.ravel(), s.ravel()
    total = n * n_aug
    for e0 in range(0, total, chunk):
        e = np.arange(e0, min(total, e0 + chunk))
        puzzle = e // n_aug
        src, dmap = _maps(rng.random((len(e), k)), b, puzzle * cells)   # into the flattened sources
        shift = (np.arange(len(e)) * (b.size + 1))[:, None]
        flat_d = dmap.ravel()
        dest = puzzle * per + 1 + e % n_aug
        x = np.take(flat_p, src)
        inputs[dest] = np.take(flat_d, x + shift)
        x = np.take(flat_s, src)
        labels[dest] = np.take(flat_d, x + shift)
    return inputs, labels


def augment_loop(puzzles, solutions, b: Board, n_aug: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The reference: :func:`augment` one example at a time, each drawing and
    applying its own permutations (the structure of the original TRM/HRM builder)."""
    p, s = _as_batch(puzzles, b), _as_batch(solutions, b)
    n = b.size
    k = draw_size(b)
    inputs, labels = [], []
    for puzzle, solution in zip(p, s):
        inputs.append(puzzle.astype(np.uint8))
        labels.append(solution.astype(np.uint8))
        for _ in range(n_aug):
            u = rng.random(k)
            digit_map = np.concatenate([[0], np.argsort(u[:n], kind="stable") + 1]).astype(np.uint8)
            transpose = b.square_boxes and u[n] < 0.5
            o = n + 1
            bands = np.argsort(u[o:o + b.bands], kind="stable")
            o += b.bands
            rows = np.concatenate([bands[j] * b.box_rows + np.argsort(u[o + j * b.box_rows:o + (j + 1) * b.box_rows],
                                                                       kind="stable")
                                   for j in range(b.bands)])
            o += n
            stacks = np.argsort(u[o:o + b.stacks], kind="stable")
            o += b.stacks
            cols = np.concatenate([stacks[j] * b.box_cols + np.argsort(u[o + j * b.box_cols:o + (j + 1) * b.box_cols],
                                                                        kind="stable")
                                   for j in range(b.stacks)])
            mapping = np.array([rows[i // n] * n + cols[i % n] for i in range(b.cells)])

            def apply(grid):
                g = grid.reshape(n, n)
                if transpose:
                    g = g.T
                return digit_map[g.ravel()[mapping]]

            inputs.append(apply(puzzle))
            labels.append(apply(solution))
    if not inputs:
        return np.zeros((0, b.cells), np.uint8), np.zeros((0, b.cells), np.uint8)
    return np.stack(inputs), np.stack(labels)
