"""The reasoning block's checks beyond its schema (run at every Snakemake start:
imports nothing heavy)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

KEY = "reasoning"


def check(block: dict, config: dict) -> None:
    for name, spec in block["datasets"].items():
        key = f"{KEY}.datasets.{name}"
        if spec["source"] == "csv":
            if spec["size"] != 9:
                raise ConfigError(f"config key '{key}.size': the Sudoku-Extreme CSV holds 9x9 puzzles "
                                  f"(size {spec['size']} given)")
            if not spec["csv_dir"]:
                raise ConfigError(f"config key '{key}.csv_dir': required when source is 'csv' "
                                  "(the folder with train.csv and test.csv)")
            if not Path(spec["csv_dir"]).is_dir():
                raise ConfigError(f"config key '{key}.csv_dir': folder {spec['csv_dir']!r} does not exist")
        else:
            givens = spec["givens"] if isinstance(spec["givens"], list) else [spec["givens"]] * 2
            cells = spec["size"] ** 2
            if givens[0] > givens[1]:
                raise ConfigError(f"config key '{key}.givens': range {givens} runs backwards")
            if givens[1] >= cells:
                raise ConfigError(f"config key '{key}.givens': a {spec['size']}x{spec['size']} board has "
                                  f"{cells} cells; at most {cells - 1} givens leave something to solve")
