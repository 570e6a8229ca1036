"""Sudoku datasets in the TRM/HRM format: the Sudoku-Extreme CSV loader, the
split writer and reader, and the build of a whole dataset directory.

The format (that of ``dataset/build_sudoku_dataset.py`` of TRM/HRM) is one
directory per split (``train/``, ``test/``) holding

    all__inputs.npy              (examples, N*N) uint8 tokens
    all__labels.npy              (examples, N*N) uint8 tokens
    all__puzzle_identifiers.npy  (puzzles,) int32, all 0
    all__puzzle_indices.npy      (puzzles + 1,) int32: 0, 1, 2, ... (one example per puzzle)
    all__group_indices.npy       (groups + 1,) int32: 0, 1 + n_aug, ... (a puzzle and its augmentations)
    dataset.json                 the metadata (:func:`metadata`)

and ``identifiers.json`` (``["<blank>"]``) next to them. Tokens: 0 PAD, 1 blank,
d + 1 for digit d; labels have no blanks. Every split is written into a
temporary directory and renamed into place, and :func:`build` writes the whole
dataset directory that way, after every input has been checked: a reader never
sees a half-written split, and a bad input leaves nothing behind.

Generated datasets hold no two equivalent puzzles (one an image of the other
under the augmentation group: :func:`tinyscale.reasoning.sudoku.canonical`), in
a split or across the two: a test puzzle is no augmentation of a training
puzzle, so the test split measures solving, not memory. On 9x9 only exact
duplicates are checked (the group is too large to enumerate; random 9x9
puzzles are equivalent with negligible probability). The CSV's train and test
files are used as they are (Sudoku-Extreme's are inequivalent by construction).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, DataError
from ..io import atomic_path, write_json
from . import augment as aug
from . import sudoku
from .sudoku import Board

log = logging.getLogger("tinyscale")

HEADER = ["source", "question", "answer", "rating"]
SPLIT_FILES = ("all__inputs.npy", "all__labels.npy", "all__puzzle_identifiers.npy",
               "all__puzzle_indices.npy", "all__group_indices.npy")
IDENTIFIERS = ["<blank>"]
PAD, BLANK = 0, 1
CSV_CHUNK = 65536
"""CSV rows parsed and checked per whole-array step."""


# ----------------------------------------------------------------------------- tokens


def encode(grids) -> np.ndarray:
    """Tokens (uint8) of digit grids: blank 0 -> 1, digit d -> d + 1."""
    return (np.asarray(grids, np.uint8) + np.uint8(1)).astype(np.uint8)


def decode(tokens) -> np.ndarray:
    """Digit grids (uint8) of tokens (PAD is not a digit: ValueError)."""
    t = np.asarray(tokens)
    if (t == PAD).any():
        raise ValueError("PAD tokens have no digit")
    return (t - 1).astype(np.uint8)


# ----------------------------------------------------------------------------- CSV


def _open_text(path: Path):
    """A text stream of the file, gunzipped when it is gzip (by its magic bytes)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    if path.suffix == ".gz":
        raise DataError(f"{path}: not a gzip file (no gzip header), though named .gz")
    return open(path, encoding="utf-8-sig", newline="")


def _parse_grid(strings: list[str], blank_ok: bool) -> tuple[np.ndarray, np.ndarray]:
    """(digits (m, 81) uint8, bad-character mask (m,)) of 81-character strings."""
    raw = np.frombuffer("".join(strings).encode("ascii", errors="replace"), np.uint8).reshape(-1, 81)
    digit = (raw >= ord("1")) & (raw <= ord("9"))
    ok = digit | (raw == ord(".")) if blank_ok else digit
    return np.where(digit, raw - ord("0"), 0).astype(np.uint8), ~ok.all(axis=1)


def _row_problem(fields: list[str], b: Board) -> str | None:
    """What is wrong with one CSV row (the first problem), or None."""
    if len(fields) != 4:
        what = " (an empty line)" if not fields else ""
        return f"expected 4 fields ({','.join(HEADER)}), found {len(fields)}{what}"
    _, q, a, r = fields
    for name, s in (("question", q), ("answer", a)):
        if len(s) != b.cells:
            return f"the {name} has {len(s)} characters, expected {b.cells}"
    for name, s, allowed in (("question", q, ".123456789"), ("answer", a, "123456789")):
        bad = next((c for c in s if c not in allowed), None)
        if bad is not None:
            return (f"the {name} holds the character {bad!r} (allowed: "
                    f"{'. for a blank and ' if name == 'question' else ''}the digits 1-9)")
    if not (r.isascii() and r.isdigit()):
        return f"the rating {r!r} is not a non-negative integer"
    p, s = sudoku.parse(q, b), sudoku.parse(a, b)
    if not sudoku.is_valid_solution(s, b)[0]:
        return "the answer is not a valid Sudoku grid (a row, column or box repeats a digit)"
    if not sudoku.agrees(p, s)[0]:
        cell = int(np.flatnonzero((p != 0) & (p != s))[0])
        return (f"the answer disagrees with the question at row {cell // 9 + 1}, column {cell % 9 + 1} "
                f"(given {p[cell]}, answer {s[cell]})")
    return None


def _check_rows(path: Path, rows: list[list[str]], lines: list[int], b: Board
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse well-formed 4-field rows and check all of them at once; the first
    bad one raises DataError with its line."""
    m = len(rows)
    _, qs, ans, rs = (list(col) for col in zip(*rows)) if m else ([], [], [], [])
    bad = np.zeros(m, bool)
    q_len = np.fromiter(map(len, qs), np.int64, m) != b.cells
    a_len = np.fromiter(map(len, ans), np.int64, m) != b.cells
    length_bad = q_len | a_len
    bad |= length_bad
    filler = "." * b.cells
    if length_bad.any():
        qs = [filler if x else s for s, x in zip(qs, length_bad)]
        ans = [filler if x else s for s, x in zip(ans, length_bad)]
    puzzles, q_chars = _parse_grid(qs, blank_ok=True)
    solutions, a_chars = _parse_grid(ans, blank_ok=False)
    bad |= (q_chars | a_chars) & ~length_bad
    r_arr = np.array(rs, dtype=str) if m else np.zeros(0, str)
    r_ok = np.char.isdigit(r_arr) if m else np.zeros(0, bool)
    if not "".join(rs).isascii():
        r_ok &= np.fromiter((r.isascii() for r in rs), bool, m)
    bad |= ~r_ok
    ratings = np.zeros(m, np.int64)
    ratings[r_ok] = r_arr[r_ok].astype(np.int64)
    fine = ~bad
    bad[fine] |= ~sudoku.is_valid_solution(solutions[fine], b) | ~sudoku.agrees(puzzles[fine], solutions[fine])
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(f"{path}, line {lines[k]}: {_row_problem(rows[k], b)}")
    return puzzles, solutions, ratings


def load_sudoku_csv(path, min_rating: int | None = None, subsample: int | None = None,
                    seed=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(puzzles, solutions, ratings) of a Sudoku-Extreme CSV (9x9; gzipped or not).

    Digits as uint8 (n, 81) (0 blank), ratings int64. Every row is checked, and
    the first bad one raises DataError naming the file and its line (the header
    is line 1): the header, the number of fields, the lengths and characters of
    question and answer, the rating (a non-negative integer), the answer (a
    valid grid that keeps every given). Then the puzzles with ``rating >=
    min_rating`` are kept, and of those a seeded sample of ``subsample``
    (without replacement, in file order).
    """
    path = Path(path)
    b = sudoku.BOARDS[9]
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file (expected the header {','.join(HEADER)})")
            if [h.strip() for h in header] != HEADER:
                raise DataError(f"{path}, line 1: the header is {','.join(header)!r}, "
                                f"expected {','.join(HEADER)!r}")
            rows: list[list[str]] = []
            lines: list[int] = []
            structural: tuple[int, list[str]] | None = None
            for row in reader:
                if len(row) != 4:
                    structural = (reader.line_num, row)
                    break
                rows.append(row)
                lines.append(reader.line_num)
                if len(rows) == CSV_CHUNK:
                    parts.append(_check_rows(path, rows, lines, b))
                    rows, lines = [], []
            if rows:
                parts.append(_check_rows(path, rows, lines, b))
            if structural is not None:
                raise DataError(f"{path}, line {structural[0]}: {_row_problem(structural[1], b)}")
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a readable gzip file (corrupt or truncated): {err}") from err
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start} of a block)") from err
    except csv.Error as err:
        raise DataError(f"{path}: not a readable CSV file: {err}") from err
    if not parts:
        raise DataError(f"{path}: no puzzles (only the header)")
    puzzles, solutions, ratings = (np.concatenate(x) for x in zip(*parts))
    if min_rating is not None:
        keep = ratings >= min_rating
        puzzles, solutions, ratings = puzzles[keep], solutions[keep], ratings[keep]
    if subsample is not None:
        have = len(puzzles)
        if subsample > have:
            which = f" with rating >= {min_rating}" if min_rating is not None else ""
            raise DataError(f"{path}: a subsample of {subsample} puzzles asked for, but it has only "
                            f"{have} puzzles{which}")
        idx = np.sort(np.random.default_rng(seed).choice(have, size=subsample, replace=False))
        puzzles, solutions, ratings = puzzles[idx], solutions[idx], ratings[idx]
    return puzzles, solutions, ratings


# ----------------------------------------------------------------------------- splits


def metadata(b: Board, n_groups: int) -> dict[str, Any]:
    """dataset.json of a split of ``n_groups`` groups (as the original writes it)."""
    return {"seq_len": b.seq_len, "vocab_size": b.vocab_size, "pad_id": PAD, "ignore_label_id": 0,
            "blank_identifier_id": 0, "num_puzzle_identifiers": 1, "total_groups": int(n_groups),
            "mean_puzzle_examples": 1, "total_puzzles": int(n_groups), "sets": ["all"]}


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:              # a file object: numpy adds no suffix
            np.save(fh, array, allow_pickle=False)


def _temp_dir_for(directory: Path) -> Path:
    directory.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))


def _move_into_place(tmp: Path, directory: Path) -> None:
    """Rename the finished ``tmp`` onto ``directory`` (whose old content goes)."""
    os.chmod(tmp, 0o777 & ~_umask())         # mkdtemp makes it 0700
    if directory.exists() or directory.is_symlink():
        old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.old-"))
        os.replace(directory, old / "x")
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, directory)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_split_files(directory: Path, inputs: np.ndarray, labels: np.ndarray, n_groups: int,
                       b: Board) -> None:
    n = len(inputs)
    per = n // n_groups if n_groups else 0
    directory.mkdir(parents=True, exist_ok=True)
    _save_npy(directory / "all__inputs.npy", inputs)
    _save_npy(directory / "all__labels.npy", labels)
    _save_npy(directory / "all__puzzle_identifiers.npy", np.zeros(n, np.int32))
    _save_npy(directory / "all__puzzle_indices.npy", np.arange(n + 1, dtype=np.int32))
    _save_npy(directory / "all__group_indices.npy", np.arange(0, n + 1, max(per, 1), dtype=np.int32))
    write_json(directory / "dataset.json", metadata(b, n_groups))


def _check_tokens(inputs, labels, n_groups: int, b: Board) -> tuple[np.ndarray, np.ndarray]:
    inputs, labels = np.asarray(inputs), np.asarray(labels)
    if inputs.ndim != 2 or inputs.shape != labels.shape or inputs.shape[1] != b.seq_len:
        raise ValueError(f"inputs {inputs.shape} and labels {labels.shape}: expected two (n, {b.seq_len}) arrays")
    n = len(inputs)
    if n_groups < 0 or (n_groups == 0) != (n == 0) or (n_groups and n % n_groups):
        raise ValueError(f"{n} examples do not make {n_groups} groups of equal size")
    if n and (inputs.min() < BLANK or inputs.max() > b.size + 1):
        raise ValueError(f"input tokens outside {BLANK}..{b.size + 1} (encode the grids first)")
    if n and (labels.min() < 2 or labels.max() > b.size + 1):
        raise ValueError(f"label tokens outside 2..{b.size + 1} (a label has no blanks)")
    return inputs.astype(np.uint8, copy=False), labels.astype(np.uint8, copy=False)


def write_split(directory, inputs, labels, n_groups: int, b: Board) -> None:
    """Write one split: ``inputs`` and ``labels`` are tokens (:func:`encode`),
    (n, N*N), in ``n_groups`` groups of equal size, the original of each first.
    Written into a temporary directory, renamed onto ``directory`` when complete."""
    directory = Path(directory)
    inputs, labels = _check_tokens(inputs, labels, n_groups, b)
    tmp = _temp_dir_for(directory)
    try:
        _write_split_files(tmp, inputs, labels, n_groups, b)
        _move_into_place(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_META_INT = ("seq_len", "vocab_size", "pad_id", "blank_identifier_id", "num_puzzle_identifiers",
             "total_groups", "total_puzzles")


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        a = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npy file ({err})") from err
    if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{path}: expected an integer array, found {getattr(a, 'dtype', type(a).__name__)}")
    return a


def _check_indices(path: Path, a: np.ndarray, end: int, what: str) -> None:
    if a.ndim != 1 or len(a) < 1:
        raise DataError(f"{path}: expected a 1-d array of at least one index, found shape {a.shape}")
    if a[0] != 0:
        raise DataError(f"{path}: starts at {a[0]}, expected 0")
    if len(a) > 1 and not (np.diff(a.astype(np.int64)) > 0).all():
        k = int(np.argmax(np.diff(a.astype(np.int64)) <= 0))
        raise DataError(f"{path}: not increasing (entry {k + 1} is {a[k + 1]} after {a[k]})")
    if a[-1] != end:
        raise DataError(f"{path}: ends at {a[-1]}, expected {end} ({what})")


def load_split(directory, mmap: bool = False) -> dict[str, Any]:
    """Read a split (ours or one the original script built) and check it.

    Returns {"inputs", "labels", "puzzle_identifiers", "puzzle_indices",
    "group_indices", "metadata"}. Raises DataError naming the file for a missing
    or unreadable file, wrong shapes, indices that do not start at 0, increase
    and end at the example / puzzle count, tokens outside [0, vocab_size), a
    seq_len or group count that disagrees with dataset.json.
    """
    directory = Path(directory)
    meta_path = directory / "dataset.json"
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: file not found")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{meta_path}: not readable JSON ({err})") from err
    if not isinstance(meta, dict):
        raise DataError(f"{meta_path}: expected a JSON object")
    for key in _META_INT:
        if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool):
            raise DataError(f"{meta_path}: {key} is {meta.get(key)!r}, expected an integer")
    if meta.get("sets") != ["all"]:
        raise DataError(f"{meta_path}: sets is {meta.get('sets')!r}, expected ['all']")
    arrays = {name: _load_array(directory / name, mmap) for name in SPLIT_FILES}
    inputs, labels = arrays["all__inputs.npy"], arrays["all__labels.npy"]
    ids, pidx, gidx = (arrays[k] for k in SPLIT_FILES[2:])
    seq_len, vocab = meta["seq_len"], meta["vocab_size"]
    for name, a in (("all__inputs.npy", inputs), ("all__labels.npy", labels)):
        if a.ndim != 2 or a.shape[1] != seq_len:
            raise DataError(f"{directory / name}: shape {a.shape}, expected (examples, {seq_len}) "
                            f"(seq_len of dataset.json)")
    if labels.shape != inputs.shape:
        raise DataError(f"{directory / 'all__labels.npy'}: shape {labels.shape}, but the inputs' is {inputs.shape}")
    _check_indices(directory / "all__puzzle_indices.npy", pidx, len(inputs), "the number of examples")
    n_puzzles = len(pidx) - 1
    _check_indices(directory / "all__group_indices.npy", gidx, n_puzzles, "the number of puzzles")
    n_groups = len(gidx) - 1
    if ids.shape != (n_puzzles,):
        raise DataError(f"{directory / 'all__puzzle_identifiers.npy'}: shape {ids.shape}, expected "
                        f"({n_puzzles},) (one per puzzle)")
    if len(ids) and (ids.min() < 0 or ids.max() >= meta["num_puzzle_identifiers"]):
        raise DataError(f"{directory / 'all__puzzle_identifiers.npy'}: identifiers outside "
                        f"0..{meta['num_puzzle_identifiers'] - 1}")
    for name, a in (("all__inputs.npy", inputs), ("all__labels.npy", labels)):
        if a.size and (a.min() < 0 or a.max() >= vocab):
            raise DataError(f"{directory / name}: tokens outside 0..{vocab - 1} (vocab_size {vocab})")
    if meta["total_groups"] != n_groups:
        raise DataError(f"{meta_path}: total_groups is {meta['total_groups']}, but "
                        f"all__group_indices.npy has {n_groups} groups")
    if meta["total_puzzles"] not in (n_groups, n_puzzles):
        raise DataError(f"{meta_path}: total_puzzles is {meta['total_puzzles']}, expected {n_groups} "
                        f"(groups) or {n_puzzles} (puzzles)")
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids, "puzzle_indices": pidx,
            "group_indices": gidx, "metadata": meta}


# ----------------------------------------------------------------------------- build


def _csv_file(csv_dir: Path, name: str) -> Path:
    for candidate in (csv_dir / f"{name}.csv", csv_dir / f"{name}.csv.gz"):
        if candidate.is_file():
            return candidate
    if not csv_dir.is_dir():
        raise DataError(f"{csv_dir}: directory not found (expected {name}.csv or {name}.csv.gz in it)")
    raise DataError(f"{csv_dir}: has neither {name}.csv nor {name}.csv.gz")


def _check_inequivalent(train: np.ndarray, test: np.ndarray, b: Board) -> None:
    """No test puzzle equivalent to a training one, no two equivalent within a split
    (:func:`sudoku.class_keys`; what :func:`sudoku.generate` promises, checked)."""
    tr, te = sudoku.class_keys(train, b), sudoku.class_keys(test, b)
    if len(set(tr)) != len(tr) or len(set(te)) != len(te) or set(tr) & set(te):
        raise AssertionError("the generator made equivalent puzzles")


def build(out_dir, source: str, board: Board | int, n_train: int | None, n_test: int | None, n_aug: int,
          seed: int, *, givens=None, csv_dir=None, min_rating: int | None = None,
          subsample: int | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build a dataset directory: ``train/`` (each puzzle and ``n_aug``
    augmentations of it), ``test/`` (not augmented), ``identifiers.json``.

    ``source="generate"``: ``n_train + n_test`` puzzles of ``board`` with
    ``givens`` (int or [lo, hi]) from one seeded generator call, the first
    ``n_train`` for training. No two of them are equivalent (4x4 and 6x6: no
    digit relabelling, transposition, band / row / stack / column permutation
    of another, see :func:`sudoku.canonical`; 9x9: not the same), so no test
    puzzle is an augmentation of a training one and neither split repeats a
    puzzle class; a request with more puzzles at a givens count than the
    generator finds classes (4x4: than exist) is a ConfigError naming the
    counts, raised before anything is written. ``source="csv"``: 9x9 puzzles from
    ``csv_dir``/train.csv(.gz) and test.csv(.gz) (the Sudoku-Extreme layout);
    ``min_rating`` filters both files (as the original), ``subsample`` draws
    training puzzles; ``n_train``/``n_test`` are not used. Everything is read,
    checked and built in memory, written into a temporary directory next to
    ``out_dir`` and renamed onto it at the end. Returns a summary.
    """
    out_dir = Path(out_dir)
    say = progress or log.info
    b = board if isinstance(board, Board) else sudoku.board(board)
    if n_aug < 0:
        raise ConfigError(f"augmentations {n_aug}: must be at least 0")
    gen_seq, sub_seq, aug_seq = np.random.SeedSequence(seed).spawn(3)
    if source == "generate":
        if givens is None:
            raise ConfigError("givens: required to generate puzzles")
        total = int(n_train) + int(n_test)

        def report(done, n):
            say(f"generated {done}/{n} {b} puzzles")

        try:
            puzzles, solutions = sudoku.generate(total, b, givens, gen_seq, progress=report)
        except ConfigError as err:
            raise ConfigError(f"{n_train} training + {n_test} test puzzles of {b}: {err}") from None
        train = (puzzles[:n_train], solutions[:n_train])
        test = (puzzles[n_train:], solutions[n_train:])
        _check_inequivalent(train[0], test[0], b)
        origin = {"source": "generate", "givens": givens,
                  "distinct": "inequivalent" if b.size in sudoku.CANONICAL_SIZES else "exact"}
    elif source == "csv":
        if b.size != 9:
            raise ConfigError(f"size {b.size}: the Sudoku-Extreme CSV files hold 9x9 puzzles")
        if csv_dir is None:
            raise ConfigError("csv_dir: required when source is csv")
        csv_dir = Path(csv_dir)
        train_file, test_file = _csv_file(csv_dir, "train"), _csv_file(csv_dir, "test")
        say(f"reading {train_file}")
        p, s, _ = load_sudoku_csv(train_file, min_rating, subsample, sub_seq)
        train = (p, s)
        say(f"{len(p)} training puzzles from {train_file}; reading {test_file}")
        p, s, _ = load_sudoku_csv(test_file, min_rating, None)
        test = (p, s)
        say(f"{len(p)} test puzzles from {test_file}")
        origin = {"source": "csv", "csv_dir": str(csv_dir), "min_rating": min_rating, "subsample": subsample}
    else:
        raise ConfigError(f"source {source!r}: expected 'generate' or 'csv'")
    if not len(train[0]) or not len(test[0]):
        raise ConfigError(f"{len(train[0])} training and {len(test[0])} test puzzles: both splits need puzzles")

    say(f"augmenting {len(train[0])} training puzzles x {n_aug} ({len(train[0]) * (1 + n_aug)} examples)")
    tr_in, tr_lab = aug.augment(*train, b, n_aug, np.random.default_rng(aug_seq))
    tr_in += 1                                                     # tokens, in place (see encode)
    tr_lab += 1
    te_in, te_lab = encode(test[0]), encode(test[1])
    tr_in, tr_lab = _check_tokens(tr_in, tr_lab, len(train[0]), b)
    te_in, te_lab = _check_tokens(te_in, te_lab, len(test[0]), b)

    tmp = _temp_dir_for(out_dir)
    try:
        say(f"writing {out_dir}")
        _write_split_files(tmp / "train", tr_in, tr_lab, len(train[0]), b)
        _write_split_files(tmp / "test", te_in, te_lab, len(test[0]), b)
        write_json(tmp / "identifiers.json", IDENTIFIERS)
        _move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {**origin, "board": str(b), "seed": seed, "augmentations": n_aug,
               "train_puzzles": len(train[0]), "train_examples": len(tr_in),
               "test_puzzles": len(test[0]), "mean_train_givens": float(sudoku.givens(train[0]).mean()),
               "mean_test_givens": float(sudoku.givens(test[0]).mean())}
    say(f"wrote {out_dir}: {summary['train_examples']} training examples "
        f"({summary['train_puzzles']} puzzles), {summary['test_puzzles']} test puzzles")
    return summary


SPEC_KEYS = ("source", "size", "givens", "train_puzzles", "test_puzzles", "augmentations", "csv_dir",
             "min_rating", "subsample")


def _int(spec: dict, key: str, minimum: int, optional: bool = False) -> int | None:
    v = spec.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ConfigError(f"dataset spec: {key} is {v!r}, expected an integer >= {minimum}")
    return v


def build_from_spec(out_dir, spec: dict, seed: int, progress: Callable[[str], None] | None = None
                    ) -> dict[str, Any]:
    """:func:`build` from one dataset's config block (keys :data:`SPEC_KEYS`):
    ``{"source": "generate" | "csv", "size": 4 | 6 | 9, "givens": int | [lo, hi],
    "train_puzzles", "test_puzzles", "augmentations", "csv_dir", "min_rating",
    "subsample"}``. Every value is checked (ConfigError naming the key) first."""
    if not isinstance(spec, dict):
        raise ConfigError(f"dataset spec: expected a JSON object, found {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"dataset spec: unknown key(s) {', '.join(unknown)} (known: {', '.join(SPEC_KEYS)})")
    source = spec.get("source")
    n_aug = _int(spec, "augmentations", 0)
    if source == "generate":
        size = spec.get("size")
        if size not in sudoku.BOARDS or isinstance(size, bool):
            raise ConfigError(f"dataset spec: size is {size!r}, expected one of {sorted(sudoku.BOARDS)}")
        if spec.get("givens") is None:
            raise ConfigError("dataset spec: givens is required when source is generate")
        return build(out_dir, "generate", size, _int(spec, "train_puzzles", 1), _int(spec, "test_puzzles", 1),
                     n_aug, seed, givens=spec["givens"], progress=progress)
    if source == "csv":
        size = spec.get("size")
        if size is not None and size != 9:
            raise ConfigError(f"dataset spec: size is {size!r}, but the Sudoku-Extreme CSV files hold 9x9 puzzles")
        csv_dir = spec.get("csv_dir")
        if not isinstance(csv_dir, str) or not csv_dir:
            raise ConfigError(f"dataset spec: csv_dir is {csv_dir!r}, expected the directory of train.csv "
                              f"and test.csv")
        min_rating = spec.get("min_rating")
        if min_rating is not None and (not isinstance(min_rating, int) or isinstance(min_rating, bool)):
            raise ConfigError(f"dataset spec: min_rating is {min_rating!r}, expected an integer or null")
        return build(out_dir, "csv", 9, None, None, n_aug, seed, csv_dir=csv_dir, min_rating=min_rating,
                     subsample=_int(spec, "subsample", 1, optional=True), progress=progress)
    raise ConfigError(f"dataset spec: source is {source!r}, expected 'generate' or 'csv'")
