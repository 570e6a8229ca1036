"""Atomic file output: write under a temporary name, rename when complete.

A reader (or Snakemake) never sees a half-written file: either the old file,
or no file, or the complete new one.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import DataError


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary file keeps the suffix of ``path`` so that writers that look
    at suffixes (pandas, numpy) behave as for the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; a result is as readable as any new file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path, frame) -> None:
    """Write a pandas DataFrame without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_npz(path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file object: numpy would append ".npz" to a name
            np.savez(fh, **arrays)


def load_npz(path: str | os.PathLike, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the npz file ``path``, read into memory.

    Only those members are read (a cheap check can ask for one small array).
    Every way the file can be unusable ends in one DataError naming the file:
    missing, truncated or corrupt (not a zip, a bad CRC, pickled objects where
    arrays were expected), or lacking a key this step needs. Every npz file of
    the workflow is a rule's output, so the remedy is to delete it and rerun.
    """
    path = Path(path)
    keys = list(keys)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    unreadable = DataError(f"{path}: not a readable .npz file (truncated or corrupt); delete it and rerun")
    # ValueError: no zip magic, so numpy took it for a pickle (or an array holds objects);
    # the others: a zip cut short or damaged
    broken = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError)
    try:
        z = np.load(path, allow_pickle=False)
    except broken as err:
        raise unreadable from err
    if not isinstance(z, np.lib.npyio.NpzFile):  # a .npy file: one array, no names
        raise unreadable
    with z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise DataError(f"{path}: lacks the array(s) {', '.join(missing)} (it has "
                            f"{', '.join(z.files) or 'none'}); delete it and rerun")
        try:
            return {k: z[k] for k in keys}
        except broken as err:
            raise unreadable from err
