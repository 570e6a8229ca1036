"""Sudoku boards, validity checks, a batched solver and a seeded puzzle generator.

A grid is a uint8 array of N*N digits in row-major order, 0 for a blank and
1..N for a digit (a batch is (n, N*N); (n, N, N) is accepted too). The dataset
format shifts these by one (0 = PAD) only when it is written
(:mod:`tinyscale.reasoning.dataset`).

The solver works on many puzzles at once. A search state is a row of N*N
candidate bitmasks (bit d-1 set: digit d still possible). Constraint
propagation (naked singles: a cell's fixed digit leaves its row, column and box;
hidden singles: a digit with one place left in a unit goes there) runs with
whole-array operations over every state until nothing changes; what is left
open branches on the cell with the fewest candidates (one child takes one
candidate, the other keeps the rest). The states wait on a stack, the newest
on top, so that every puzzle's search runs depth first while the batch moves
in lockstep; a puzzle leaves the search once it has ``limit`` solutions.

The generator fills random full grids with the same search (random branching),
then empties cells in a random order, keeping a blank only if the puzzle stays
uniquely solvable, until a puzzle has its target number of givens. A grid
stuck above its target is dropped for a fresh one.

Where the generator gets: the share of random grids whose greedy pass reaches
a count (it passes every larger count on the way), measured on 4000 grids per
board (seeded; ``_remove_cells(..., give_up=False)``):

==========  ==============  ====================================================
board       proven minimum  share of grids reaching (givens: share)
==========  ==============  ====================================================
4x4 (2x2)   4               4: 69%, 5: 99.7%, 6: 100%
6x6 (2x3)   8               8: 0.55%, 9: 21%, 10: 74%, 11: 97%, 12: 99.9%
9x9 (3x3)   17              20: 0.03%, 21: 0.18%, 22: 3.7%, 23: 23%, 24: 56%,
                            25: 85%, 26: 97%, 27: 99.8%, 28: 100%
==========  ==============  ====================================================

So the practical minima (:data:`PRACTICAL_MIN_GIVENS`) are 4 (4x4), 9 (6x6)
and 22 (9x9; about 27 grids per puzzle, 23 takes about 4): with at most
:data:`MAX_ATTEMPTS` grids per puzzle, 8 on 6x6 fails for about one puzzle in
17 and 21 on 9x9 for most: fewer givens than the practical minimum are rare
finds, not a dataset.

A target below the proven minimum is a ConfigError at once; one the generator
does not reach within its attempts is a ConfigError naming the count.

Equivalence. Two puzzles are equivalent when one is an image of the other under
the augmentation group (:mod:`tinyscale.reasoning.augment`: digit relabelling,
transposition on square boxes, band, row-in-band, stack and column-in-stack
permutations). :func:`canonical` maps each 4x4 or 6x6 puzzle to the smallest
image of its class, over every geometric transform (4x4: 2 x 8 x 8 = 128;
6x6: 48 x 72 = 3456) with the digits renamed in order of first appearance.
The generator makes no two equivalent puzzles (and none equivalent to an
excluded one), so that a dataset's test puzzles are no augmentations of its
training puzzles. A 9x9 board has 2 x 1296^2 (about 3.4 million) geometric
transforms and is not enumerated: there only exact duplicates are removed
(:func:`class_keys`); two random 9x9 puzzles are equivalent with negligible
probability (the lower bound below is in the 10^10 already on 6x6).

How many classes there are, per givens count (uniquely solvable puzzles; a
class of k givens holds at most 128 x 4! = 3072 of them on 4x4, 3456 x 6! =
2488320 on 6x6):

==========  =======================================================================
4x4         exhaustive: the 288 grids x every subset of cells, uniqueness by
            agreement masks (cross-checked by the solver), classes by
            :func:`canonical` (:data:`INEQUIVALENT_4X4`):
            givens   4    5    6     7     8    9   10   11   12  13  14  15  16
            classes  13   96   376   711  1040  980  788  414  210  56  22   2   2
            (25728, 284160, 1041408, 2141184, 2961024 ... uniquely solvable puzzles)
6x6         sampled (20000 random k-subsets of random grids, solver): P(unique) =
            0.65 (18 givens), 0.72 (19), 0.80 (20), 0.85 (21), 0.89 (22); times
            28200960 grids x C(36, k) / 2488320: at least 6.7e10, 7.1e10, 6.6e10,
            5.4e10, 3.8e10 classes. 3000 generated puzzles per count: 3000 classes.
==========  =======================================================================

So the generator runs out of classes on 4x4 only. There a count drawn by more
puzzles than it has classes is a ConfigError before any grid is tried; the
rarest classes of a count come seldom (at 6 givens the rarest is 5e-4 of the
generator's output, at 8 givens 2e-5), so a request for nearly all of them
(about 98% of a count's classes went through on 5 seeds out of 5; 99% at 8
givens failed on 4, all of them on every seed) runs out of attempts: a
ConfigError naming how many inequivalent puzzles were found. With givens
[6, 8] each puzzle draws 6 with probability 1/3, so about 3 x 376 puzzles in
all is the ceiling (1080 went through on 5 seeds out of 5, 1100 on 4).
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Board:
    """An N x N Sudoku with boxes of ``box_rows`` x ``box_cols`` cells."""

    size: int
    box_rows: int
    box_cols: int

    def __post_init__(self):
        if self.box_rows * self.box_cols != self.size or min(self.box_rows, self.box_cols) < 1:
            raise ConfigError(f"board {self.size}x{self.size}: boxes {self.box_rows}x{self.box_cols} "
                              f"do not tile it")

    @property
    def cells(self) -> int:
        return self.size * self.size

    @property
    def seq_len(self) -> int:
        return self.cells

    @property
    def vocab_size(self) -> int:
        """PAD, blank and the N digits."""
        return self.size + 2

    @property
    def square_boxes(self) -> bool:
        return self.box_rows == self.box_cols

    @property
    def bands(self) -> int:
        """Rows of boxes (each ``box_rows`` rows high)."""
        return self.size // self.box_rows

    @property
    def stacks(self) -> int:
        """Columns of boxes (each ``box_cols`` columns wide)."""
        return self.size // self.box_cols

    @property
    def full_mask(self) -> int:
        return (1 << self.size) - 1

    def __str__(self) -> str:
        return f"{self.size}x{self.size} ({self.box_rows}x{self.box_cols} boxes)"


BOARDS = {4: Board(4, 2, 2), 6: Board(6, 2, 3), 9: Board(9, 3, 3)}

MIN_GIVENS = {4: 4, 6: 8, 9: 17}
"""The proven minimum number of givens of a uniquely solvable puzzle."""

PRACTICAL_MIN_GIVENS = {4: 4, 6: 9, 9: 22}
"""The fewest givens this generator reaches reliably (see the module docstring)."""

INEQUIVALENT_4X4 = {4: 13, 5: 96, 6: 376, 7: 711, 8: 1040, 9: 980, 10: 788, 11: 414, 12: 210, 13: 56,
                    14: 22, 15: 2, 16: 2}
"""Inequivalent (:func:`canonical`) uniquely solvable 4x4 puzzles per givens
count: every one of the 288 grids with every subset of its cells, exhaustively
(see the module docstring). At most this many 4x4 puzzles with one count can be
generated."""

MAX_ATTEMPTS = 512
"""Fresh grids the generator tries per puzzle before it gives up on a target."""

GIVE_UP_AFTER = 1024
"""Fresh grids tried for a givens count, none of which got there, before the generator gives up."""


def board(size: int) -> Board:
    """The board of ``size`` (4, 6 or 9)."""
    try:
        return BOARDS[int(size)]
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"board size {size!r}: expected one of {sorted(BOARDS)}") from None


# ----------------------------------------------------------------------------- tables


class _Tables:
    """Index maps and bit tables of one board, shared by every call."""

    def __init__(self, b: Board):
        n = b.size
        idx = np.arange(b.cells).reshape(n, n)
        rows = idx
        cols = idx.T
        boxes = (idx.reshape(b.bands, b.box_rows, b.stacks, b.box_cols)
                 .transpose(0, 2, 1, 3).reshape(n, n))
        self.kinds = (rows, cols, boxes)                 # each (N, N): a partition of the cells
        self.units = np.concatenate(self.kinds)          # (3N, N)
        unit_of = np.empty((3, b.cells), np.intp)        # cell -> its row / column / box unit
        for t, kind in enumerate(self.kinds):
            unit_of[t, kind.ravel()] = t * n + np.repeat(np.arange(n), n)
        self.unit_of = unit_of
        # a unit-major (kind, unit, position) array back to cells: cell i sits at inverse[k][i]
        self.inverse = [np.argsort(kind.ravel()) for kind in self.kinds]
        masks = np.arange(1 << n)
        self.pop = np.array([bin(m).count("1") for m in masks], np.uint8)
        digit = np.zeros(1 << n, np.uint8)               # single-bit mask -> its digit
        digit[1 << np.arange(n)] = np.arange(1, n + 1)
        self.digit = digit
        self.bit = np.concatenate([[0], 1 << np.arange(n)]).astype(np.uint16)  # digit -> mask (0 -> 0)
        self.full = np.uint16(b.full_mask)
        self.n = n
        self.cells = b.cells


@functools.lru_cache(maxsize=None)
def _tables(b: Board) -> _Tables:
    return _Tables(b)


def _as_batch(grids, b: Board) -> np.ndarray:
    g = np.asarray(grids)
    if g.shape[-2:] == (b.size, b.size) and g.shape[-1] != b.cells:
        g = g.reshape(*g.shape[:-2], b.cells)
    if g.shape[-1] != b.cells:
        raise ValueError(f"grids of shape {g.shape} are not {b} boards")
    return g.reshape(-1, b.cells)


def parse(text: str, b: Board) -> np.ndarray:
    """A grid from its N*N-character string ('.' or '0' blank, digits 1..N; whitespace ignored)."""
    chars = "".join(text.split())
    if len(chars) != b.cells:
        raise ValueError(f"{len(chars)} characters, expected {b.cells}")
    g = np.array([0 if c in ".0" else int(c) for c in chars], np.uint8)
    if g.max() > b.size:
        raise ValueError(f"digit above {b.size}")
    return g


def format_grid(grid, b: Board) -> str:
    """The N*N-character string of a grid ('.' for blanks)."""
    return "".join("." if d == 0 else str(int(d)) for d in np.asarray(grid).ravel())


# ----------------------------------------------------------------------------- validity


def is_valid_solution(grids, b: Board) -> np.ndarray:
    """Per grid: every row, column and box holds each of 1..N once (no blanks)."""
    g = _as_batch(grids, b)
    t = _tables(b)
    inside = ((g >= 1) & (g <= b.size)).all(axis=1)
    bits = t.bit[np.where((g >= 1) & (g <= b.size), g, 0).astype(np.intp)]
    unit_or = np.bitwise_or.reduce(bits[:, t.units], axis=2)
    return inside & (unit_or == t.full).all(axis=1)


def agrees(puzzles, solutions) -> np.ndarray:
    """Per pair: every given of the puzzle equals the solution's digit there."""
    p, s = np.asarray(puzzles), np.asarray(solutions)
    p = p.reshape(p.shape[0], -1) if p.ndim > 1 else p.reshape(1, -1)
    s = s.reshape(s.shape[0], -1) if s.ndim > 1 else s.reshape(1, -1)
    return ((p == 0) | (p == s)).all(axis=1)


def givens(puzzles) -> np.ndarray:
    """Number of filled cells per puzzle."""
    p = np.asarray(puzzles)
    return (p.reshape(p.shape[0], -1) != 0).sum(axis=1)


# ----------------------------------------------------------------------------- solver


def _candidates(puzzles: np.ndarray, b: Board) -> np.ndarray:
    """Candidate masks: a given's own bit, every digit for a blank."""
    t = _tables(b)
    p = puzzles.astype(np.intp)
    if (p > b.size).any() or (p < 0).any():
        raise ValueError(f"digits outside 0..{b.size}")
    return np.where(p == 0, t.full, t.bit[p]).astype(np.uint16)


def _propagate(c: np.ndarray, t: _Tables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naked and hidden singles to a fixed point, on every state of ``c``
    ((cells, states) candidate masks, modified in place; cells first, so that
    a unit's cells are whole rows and every reduction runs along contiguous
    memory).

    Returns (c, dead, solved): dead states hold a contradiction, solved ones a
    single digit per cell and no unit with a digit twice.
    """
    m_all = c.shape[1]
    dead = np.zeros(m_all, bool)
    act = np.arange(m_all)
    n = t.n
    one = np.uint16(1)
    while act.size:
        x = c[:, act] if act.size < m_all else c.copy()
        single = (x & (x - one)) == 0                             # one candidate left (or none: dead below)
        fixed = np.where(single, x, 0).astype(np.uint16)
        u = fixed[t.units]                                        # (3N, N, m)
        unit_or = np.bitwise_or.reduce(u, axis=1)
        conflict = (unit_or != u.sum(axis=1, dtype=np.uint16)).any(axis=0)  # a digit fixed twice in a unit
        elim = unit_or[t.unit_of[0]] | unit_or[t.unit_of[1]] | unit_or[t.unit_of[2]]
        y = np.where(single, x, x & ~elim)
        yu = y[t.units]
        once = yu[:, 0].copy()
        twice = np.zeros_like(once)
        for k in range(1, n):
            v = yu[:, k]
            twice |= once & v
            once |= v
        missing = (once != t.full).any(axis=0)                     # a digit with no place left in a unit
        hidden_unit = (yu & (once & ~twice)[:, None, :]).reshape(3, t.cells, -1)
        hidden = hidden_unit[0][t.inverse[0]] | hidden_unit[1][t.inverse[1]] | hidden_unit[2][t.inverse[2]]
        y = np.where(hidden != 0, hidden, y)
        bad = (conflict | missing | ((hidden & (hidden - one)) != 0).any(axis=0)
               | (y == 0).any(axis=0))                            # two digits forced into one cell, or none left
        changed = (y != x).any(axis=0) & ~bad
        c[:, act] = y
        dead[act[bad]] = True
        act = act[changed]
    solved = ~dead & ((c & (c - one)) == 0).all(axis=0)
    return c, dead, solved


def _search(cands: np.ndarray, t: _Tables, limit: int, rng: np.random.Generator | None = None,
            chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Depth-first search of every puzzle of ``cands`` ((puzzles, cells) masks),
    stopping a puzzle at ``limit`` solutions.

    Returns (counts, first solution per puzzle as digits, zeros where none).
    With ``rng`` a branch tries a random candidate first (a random fill), else
    the smallest digit.
    """
    n_rows = len(cands)
    counts = np.zeros(n_rows, np.int64)
    sols = np.zeros((n_rows, t.cells), np.uint8)
    stack: list[tuple[np.ndarray, np.ndarray]] = [(np.ascontiguousarray(cands.T), np.arange(n_rows))]
    stacked = n_rows
    alive = n_rows
    while stacked:
        want = max(chunk, 2 * alive)
        parts_c, parts_o, got = [], [], 0
        while stack and got < want:
            c, o = stack.pop()
            take = min(len(o), want - got)
            if take < len(o):
                stack.append((c[:, :-take], o[:-take]))
                c, o = c[:, -take:], o[-take:]
            parts_c.append(c)
            parts_o.append(o)
            got += take
        stacked -= got
        c = np.concatenate(parts_c, axis=1) if len(parts_c) > 1 else parts_c[0].copy()
        o = np.concatenate(parts_o) if len(parts_o) > 1 else parts_o[0]
        keep = counts[o] < limit                                    # owners done since these were stacked
        if not keep.all():
            c, o = c[:, keep], o[keep]
        if not len(o):
            continue
        c, dead, solved = _propagate(c, t)
        if solved.any():
            so = o[solved]
            first_owner, first_row = np.unique(so, return_index=True)
            new = counts[first_owner] == 0
            sols[first_owner[new]] = t.digit[c[:, solved][:, first_row[new]]].T
            before = counts[first_owner] < limit
            counts += np.bincount(so, minlength=n_rows)
            alive -= int((before & (counts[first_owner] >= limit)).sum())
        open_ = ~dead & ~solved & (counts[o] < limit)
        c, o = c[:, open_], o[open_]
        if not len(o):
            continue
        pc = t.pop[c]
        pc[pc <= 1] = 99
        cell = pc.argmin(axis=0)
        r = np.arange(len(o))
        mask = c[cell, r]
        if rng is None:
            pick = mask & (~mask + np.uint16(1))                    # lowest set bit
        else:
            has = (mask[:, None] >> np.arange(t.n, dtype=np.uint16)) & 1
            score = np.where(has == 1, rng.random((len(o), t.n)), -1.0)
            pick = (np.uint16(1) << score.argmax(axis=1).astype(np.uint16)).astype(np.uint16)
        first = c.copy()
        first[cell, r] = pick
        c[cell, r] = mask & ~pick
        stack.append((c, o))            # the other candidates, below
        stack.append((first, o))        # the chosen one, on top: explored first
        stacked += 2 * len(o)
    return np.minimum(counts, limit), sols


def count_solutions_batch(puzzles, b: Board, limit: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(counts, solutions) per puzzle: counts stop at ``limit``; a solution
    (the first found) where the count is at least 1, else zeros."""
    p = _as_batch(puzzles, b)
    if not len(p):
        return np.zeros(0, np.int64), np.zeros((0, b.cells), np.uint8)
    return _search(_candidates(p, b), _tables(b), int(limit))


def count_solutions(puzzle, b: Board, limit: int = 2) -> int:
    """Number of solutions of one puzzle, counting stops at ``limit``."""
    return int(count_solutions_batch(puzzle, b, limit)[0][0])


def solve(puzzle, b: Board) -> np.ndarray | None:
    """A solution of one puzzle (uint8 digits), or None if it has none."""
    counts, sols = count_solutions_batch(puzzle, b, limit=1)
    return sols[0] if counts[0] else None


def random_grids(n: int, b: Board, rng: np.random.Generator) -> np.ndarray:
    """``n`` random full grids (uint8 (n, N*N)): the search of the empty grid,
    trying a random candidate at every branch."""
    t = _tables(b)
    cands = np.full((n, b.cells), t.full, np.uint16)
    counts, sols = _search(cands, t, 1, rng=rng)
    assert (counts == 1).all()
    return sols


# ----------------------------------------------------------------------------- equivalence


CANONICAL_SIZES = (4, 6)
"""Boards :func:`canonical` handles: their whole geometric group is enumerated.
A 9x9 board has 2 x 1296^2 (about 3.4 million) geometric transforms: there
:func:`canonical` raises ValueError and the generator removes exact duplicates
only (see :func:`class_keys`)."""

CANONICAL_PAIRS = 1 << 20
"""(puzzle, transform) pairs :func:`canonical` starts at once (bounds its memory:
some 60 bytes a pair)."""


def _perms(blocks: int, per: int) -> list[np.ndarray]:
    """Every line order of a board axis: a permutation of the ``blocks`` blocks and
    of the ``per`` lines inside each block position (``blocks! * per!^blocks``)."""
    out = []
    for order in itertools.permutations(range(blocks)):
        for inner in itertools.product(itertools.permutations(range(per)), repeat=blocks):
            out.append(np.array([order[j] * per + i for j in range(blocks) for i in inner[j]], np.intp))
    return out


@functools.lru_cache(maxsize=None)
def geometry(b: Board) -> np.ndarray:
    """Every geometric transform of the augmentation group of ``b``
    (:mod:`tinyscale.reasoning.augment`) as a source cell per cell, (T, N*N) intp:
    band and row-in-band orders x stack and column-in-stack orders, with and
    without transposition (square boxes only). 4x4: 2 x 8 x 8 = 128; 6x6:
    48 x 72 = 3456; 9x9 is not enumerated (ValueError)."""
    if b.size not in CANONICAL_SIZES:
        raise ValueError(f"{b}: its geometric group is too large to enumerate (4x4 and 6x6 are)")
    n = b.size
    rows = np.stack(_perms(b.bands, b.box_rows))                    # (R, N)
    cols = np.stack(_perms(b.stacks, b.box_cols))                   # (C, N)
    # cell (r, c) <- source cell rows[r] * n + cols[c]
    plain = (rows[:, None, :, None] * n + cols[None, :, None, :]).reshape(-1, b.cells)
    maps = plain
    if b.square_boxes:
        flipped = (rows[:, None, :, None] + cols[None, :, None, :] * n).reshape(-1, b.cells)
        maps = np.concatenate([plain, flipped])
    maps.flags.writeable = False                                    # shared by every call (cached)
    return maps


def canonical(puzzles, b: Board) -> np.ndarray:
    """The canonical form of each puzzle, uint8 (n, N*N): the same row for two
    puzzles iff one is an image of the other under the augmentation group
    (digits relabelled; bands, rows in a band, stacks, columns in a stack
    permuted; transposed where the boxes are square).

    It is the lexicographically smallest image (reading order, blank 0 first):
    the smallest image of a puzzle under digit relabelling names its digits 1,
    2, ... in order of first appearance, and the smallest of those over every
    geometric transform of :func:`geometry` is kept. Itself a puzzle
    equivalent to the input; ``row.tobytes()`` makes a dict key (see
    :func:`class_keys`).

    Built row by row, whole-array over (puzzle, transform) pairs: every pair
    names the digits of its image's next row (as they first appear), and only
    the pairs whose image is still the puzzle's smallest so far go on (the
    order is lexicographic: a prefix decides). At most
    :data:`CANONICAL_PAIRS` pairs start at once.

    4x4 and 6x6 only: a 9x9 board raises ValueError (its group is not
    enumerated; see :data:`CANONICAL_SIZES`).
    """
    src = geometry(b)
    p = np.ascontiguousarray(_as_batch(puzzles, b), dtype=np.uint8)
    n_t, n = len(src), b.size
    if p.size and p.max() > n:
        raise ValueError(f"digits outside 0..{n}")
    out = np.empty_like(p)
    step = max(1, CANONICAL_PAIRS // n_t)
    for i0 in range(0, len(p), step):
        x = p[i0:i0 + step]
        m = len(x)
        owner = np.repeat(np.arange(m), n_t)                        # (puzzle, transform) pairs, by puzzle
        trans = np.tile(np.arange(n_t), m)
        label = np.zeros((len(owner), n + 1), np.uint8)             # digit -> its new name (0: none yet)
        fresh = np.ones(len(owner), np.uint8)                      # the next new name
        for r in range(n):
            pair = np.arange(len(owner))
            key = np.zeros(len(owner), np.int64)
            for c in range(r * n, (r + 1) * n):
                d = x[owner, src[trans, c]]
                name = label[pair, d]
                new = (d != 0) & (name == 0)
                name[new] = fresh[new]
                label[pair[new], d[new]] = fresh[new]
                fresh += new
                key = (key << 3) | name
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            smallest = np.minimum.reduceat(key, starts)
            keep = key == np.repeat(smallest, np.diff(np.r_[starts, len(key)]))
            owner, trans, label, fresh = owner[keep], trans[keep], label[keep], fresh[keep]
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])   # one smallest image per puzzle
        out[i0:i0 + m] = np.take_along_axis(label[first], x[owner[first][:, None], src[trans[first]]], axis=1)
    return out


def class_keys(puzzles, b: Board) -> list[bytes]:
    """A hashable key per puzzle, equal for equivalent puzzles: the bytes of its
    :func:`canonical` form on 4x4 and 6x6, of the puzzle itself on 9x9 (exact
    duplicates only there: two random 9x9 puzzles are equivalent with
    negligible probability, and the Sudoku-Extreme CSV's train and test puzzles
    are inequivalent by construction)."""
    p = np.ascontiguousarray(_as_batch(puzzles, b), dtype=np.uint8)
    forms = canonical(p, b) if b.size in CANONICAL_SIZES else p
    return [row.tobytes() for row in forms]


# ----------------------------------------------------------------------------- generator


def _targets(givens_spec, n: int, b: Board, rng: np.random.Generator) -> np.ndarray:
    if isinstance(givens_spec, (int, np.integer)) and not isinstance(givens_spec, bool):
        lo = hi = int(givens_spec)
    elif (isinstance(givens_spec, Sequence) and not isinstance(givens_spec, str) and len(givens_spec) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in givens_spec)):
        lo, hi = int(givens_spec[0]), int(givens_spec[1])
        if lo > hi:
            raise ConfigError(f"givens {list(givens_spec)}: the range's low end is above its high end")
    else:
        raise ConfigError(f"givens {givens_spec!r}: expected an integer or a [lo, hi] pair of integers")
    if lo < MIN_GIVENS[b.size]:
        raise ConfigError(f"givens {lo}: a {b} Sudoku needs at least {MIN_GIVENS[b.size]} givens to "
                          f"be uniquely solvable (this generator reaches {PRACTICAL_MIN_GIVENS[b.size]})")
    if hi > b.cells:
        raise ConfigError(f"givens {hi}: a {b} Sudoku has only {b.cells} cells")
    return rng.integers(lo, hi + 1, size=n) if hi > lo else np.full(n, lo)


def _remove_cells(grids: np.ndarray, targets: np.ndarray, b: Board, rng: np.random.Generator,
                  give_up: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Blank cells of each grid in a random order, keeping a blank only if the
    puzzle stays uniquely solvable, until ``targets`` givens are left.
    Returns (puzzles, reached). ``give_up``: stop a grid once too few untried
    cells are left to reach its target (False: try every cell; for measuring
    where grids get stuck)."""
    t = _tables(b)
    n, cells = grids.shape
    order = np.argsort(rng.random((n, cells)), axis=1)
    puzzles = grids.copy()
    left = np.full(n, cells)
    rows = np.arange(n)
    for j in range(cells):
        # still above target, and enough untried cells left to get there
        act = rows[(left > targets) & ((cells - j >= left - targets) | (not give_up))]
        if not act.size:
            break
        cell = order[act, j]
        # blanking ``cell`` keeps the solution unique iff no solution puts another digit there
        c = _candidates(puzzles[act], b)
        c[np.arange(len(act)), cell] = t.full & ~t.bit[grids[act, cell]]
        other, _ = _search(c, t, 1)
        ok = other == 0
        puzzles[act[ok], cell[ok]] = 0
        left[act[ok]] -= 1
    return puzzles, left == targets


def generate(n: int, b: Board, givens, seed, exclude: Iterable | None = None,
             progress: Callable[[int, int], None] | None = None,
             inequivalent: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniquely solvable puzzles and their solutions (uint8 (n, N*N)), no
    two of them equivalent.

    ``givens``: an int, or an inclusive ``(lo, hi)`` range from which each puzzle
    draws its count. ``exclude``: puzzles (an (m, N*N) array or rows) that no
    puzzle may be equivalent to, e.g. another split's. ``seed``: anything
    ``np.random.default_rng`` takes; same seed, same output. ``progress(done,
    n)`` is called after every round of fresh grids.

    Equivalent: one an image of the other under the augmentation group
    (:func:`class_keys`: :func:`canonical` on 4x4 and 6x6; exact duplicates on
    9x9). ``inequivalent=False``: only exact duplicates are removed, on every
    board.

    Raises ConfigError for a count below the board's proven minimum, or one the
    generator does not reach: no grid of the first :data:`GIVE_UP_AFTER` tried
    for that count got there, or one puzzle used up :data:`MAX_ATTEMPTS` grids
    without a new one (with inequivalence: the classes at that count run out;
    the message says how many inequivalent puzzles were found). On 4x4, where
    every class is known (:data:`INEQUIVALENT_4X4`), a count drawn by more
    puzzles than it has classes raises before any grid is tried.
    """
    if n < 0:
        raise ConfigError(f"number of puzzles {n}: must be at least 0")
    rng = np.random.default_rng(seed)
    targets = _targets(givens, n, b, rng)
    keys_of = (lambda rows: class_keys(rows, b)) if inequivalent else (lambda rows: [r.tobytes() for r in rows])
    seen: set[bytes] = set()
    found = np.zeros(b.cells + 1, np.int64)               # distinct (classes of) puzzles seen, per givens count
    if exclude is not None:
        ex = np.asarray(exclude if isinstance(exclude, np.ndarray) else list(exclude), np.uint8)
        ex = ex.reshape(-1, b.cells)
        for key, g in zip(keys_of(ex), (ex != 0).sum(axis=1)):
            if key not in seen:
                seen.add(key)
                found[g] += 1
    excluded = found.copy()
    wanted = np.bincount(targets, minlength=b.cells + 1)
    if inequivalent and b.size == 4:
        exist = np.array([INEQUIVALENT_4X4.get(g, 0) for g in range(b.cells + 1)])
        over = np.flatnonzero(wanted + excluded > exist)
        if over.size:
            g = int(over[0])
            raise ConfigError(_too_few(g, b, n, int(wanted[g]), int(excluded[g]),
                                       f"a {b} board has only {exist[g]} inequivalent uniquely solvable "
                                       f"puzzles with {g} givens"))
    puzzles = np.zeros((n, b.cells), np.uint8)
    solutions = np.zeros((n, b.cells), np.uint8)
    pending = np.arange(n)
    tries = np.zeros(n, np.int64)
    hits = np.zeros(n, np.int64)                          # candidates per puzzle that got to its count
    tried_by_count = np.zeros(b.cells + 1, np.int64)      # grids tried / that got there, per givens count
    reached_by_count = np.zeros(b.cells + 1, np.int64)
    round_ = 0
    while pending.size:
        per = min(2 ** round_, 64)                         # fresh grids per pending puzzle in this round
        slot = np.repeat(pending, per)
        grids = random_grids(len(slot), b, rng)
        cand, reached = _remove_cells(grids, targets[slot], b, rng)
        counts, _ = count_solutions_batch(cand[reached], b, limit=2)
        if (counts != 1).any():                            # cannot happen: each blank kept uniqueness
            raise AssertionError("the generator made a puzzle without a unique solution")
        tries[pending] += per
        tried_by_count += np.bincount(targets[slot], minlength=b.cells + 1)
        reached_by_count += np.bincount(targets[slot][reached], minlength=b.cells + 1)
        hits += np.bincount(slot[reached], minlength=n)
        # each slot takes its first candidate (in order) that is new; keys only of the candidates looked at
        filled = np.zeros(n, bool)
        ok = np.flatnonzero(reached)
        rank = np.arange(len(ok)) - np.searchsorted(slot[ok], slot[ok])    # place among its slot's candidates
        for j in range(per):
            layer = ok[(rank == j) & ~filled[slot[ok]]]
            if not layer.size:
                break
            for k, key in zip(layer, keys_of(cand[layer])):
                s = int(slot[k])
                if filled[s] or key in seen:
                    continue
                seen.add(key)
                found[targets[s]] += 1
                filled[s] = True
                puzzles[s], solutions[s] = cand[k], grids[k]
        pending = pending[~filled[pending]]
        if progress is not None:
            progress(n - len(pending), n)
        hopeless = np.flatnonzero((tried_by_count >= GIVE_UP_AFTER) & (reached_by_count == 0))
        stuck = pending[tries[pending] >= MAX_ATTEMPTS]
        if hopeless.size:
            g = int(hopeless[0])
            raise ConfigError(f"givens {g}: this generator does not reach {g} givens on a {b} board "
                              f"(none of {int(tried_by_count[g])} random grids got there; it reaches "
                              f"{PRACTICAL_MIN_GIVENS[b.size]} or more reliably)")
        if stuck.size:
            g = int(targets[stuck[0]])
            if inequivalent and hits[stuck[0]]:
                # its grids did get there, but only to puzzles equivalent to ones made before: classes run out
                known = (f"; a {b} board has {INEQUIVALENT_4X4[g]}, the rarest seldom made"
                         if b.size == 4 else "")
                raise ConfigError(_too_few(
                    g, b, n, int(wanted[g]), int(excluded[g]),
                    f"{int(tried_by_count[g])} random grids tried for {g} givens got there "
                    f"{int(reached_by_count[g])} times and found only {int(found[g] - excluded[g])} inequivalent "
                    f"puzzles{' besides the excluded ones' if excluded[g] else ''}{known}"))
            raise ConfigError(f"givens {g}: this generator does not reach {g} givens on a {b} board "
                              f"(a puzzle used up {MAX_ATTEMPTS} random grids without a new puzzle with that "
                              f"many givens; it reaches {PRACTICAL_MIN_GIVENS[b.size]} or more reliably)")
        round_ += 1
    return puzzles, solutions


def _too_few(g: int, b: Board, n: int, wanted: int, excluded: int, why: str) -> str:
    """The message of a givens count with fewer inequivalent puzzles than asked for."""
    ask = f"{wanted} of the {n} puzzles asked for drew {g} givens"
    if excluded:
        ask += f" (and {excluded} inequivalent excluded puzzles have {g})"
    return (f"givens {g}: {ask}, but {why}; every puzzle must be inequivalent to every other "
            f"(no digit relabelling, transposition or row / column / band / stack permutation of another): "
            f"ask for fewer puzzles or other givens")
