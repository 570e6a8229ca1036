"""Result files in, every number a report states out.

The figures, the PDF and the deck read results only through this module, so a
number in any of them can be traced to a file and recomputed from it. A result
file that is missing a column stops the report with one error naming the file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from ..config import format_eps
from ..scaling import throughput_table
from ..verify import METHOD_ORDER, VERDICTS
from . import ResultsError

SWEEP_COLUMNS = ["model", "epsilon", "bound", "total", "avg_time_s", "avg_mem_MB", *VERDICTS]
CELL_COLUMNS = ["model", "method", "epsilon", "sample", "verdict"]
HISTORY_COLUMNS = ["epoch", "loss", "clean_acc", "pgd_acc"]
SCALING_COLUMNS = ["config", "devices", "samples", "total_time_s", "gpu_mem_mb", "nodes", "procs_per_node",
                   "world_size"]


def read_csv(path: str | Path, columns: list[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ResultsError(f"{path}: not a readable CSV file ({err})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ResultsError(f"{path}: missing column(s) {', '.join(missing)}")
    if table.empty:
        raise ResultsError(f"{path}: no rows")
    return table


def read_json(path: str | Path, keys: list[str]) -> dict:
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not a readable JSON file ({err})") from None
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ResultsError(f"{path}: missing key(s) {', '.join(missing)}")
    return obj


def methods_in(table: pd.DataFrame) -> list[str]:
    """The methods a table holds, loosest first."""
    return [m for m in METHOD_ORDER if m in set(table["method"])]


def _method_sorted(table: pd.DataFrame, path, then: tuple[str, ...] = ()) -> pd.DataFrame:
    unknown = sorted(set(table["method"]) - set(METHOD_ORDER))
    if unknown:
        raise ResultsError(f"{path}: unknown method(s) {', '.join(unknown)} (known: {', '.join(METHOD_ORDER)})")
    rank = table["method"].map(METHOD_ORDER.index)
    return (table.assign(_rank=rank).sort_values(["model", "_rank", "epsilon", *then], kind="stable")
            .drop(columns="_rank"))


def load_sweep(path: str | Path) -> pd.DataFrame:
    """results/robustness/sweep.csv, with ``method`` for the seed's ``bound`` and the verified share in %."""
    table = read_csv(path, SWEEP_COLUMNS).rename(columns={"bound": "method"})
    table["verified_pct"] = 100 * table["verified"] / table["total"]
    return _method_sorted(table, path).reset_index(drop=True)


def load_cells(paths: list[str | Path]) -> pd.DataFrame:
    """The per-sample rows of sweep cells, in the samples' selection order."""
    frames = [read_csv(p, CELL_COLUMNS) for p in paths]
    cells = pd.concat(frames, ignore_index=True)
    return _method_sorted(cells, paths[0], then=("sample",)).reset_index(drop=True)


def load_checkpoints(paths: list[str | Path]) -> pd.DataFrame:
    """One row per checkpoint's metrics JSON (the model is the file's stem), in the given order."""
    rows = []
    for path in paths:
        m = read_json(path, ["clean_acc", "pgd_acc", "kept_epoch", "recipe", "eval_attack"])
        recipe = m["recipe"]
        rows.append({"model": Path(path).stem, "training": "adversarial" if recipe.get("adversarial") else "standard",
                     "epochs": recipe.get("epochs"), "kept_epoch": m["kept_epoch"],
                     "clean_pct": 100 * m["clean_acc"], "pgd_pct": 100 * m["pgd_acc"],
                     "pgd_eps": m["eval_attack"]["eps"], "data": m.get("data", "?"),
                     "device": m.get("device", "?"), "world_size": m.get("world_size", 1)})
    return pd.DataFrame(rows)


def load_histories(paths: list[str | Path]) -> pd.DataFrame:
    """Training histories (``{model}_history.csv``) stacked, with a ``model`` column."""
    frames = []
    for path in paths:
        h = read_csv(path, HISTORY_COLUMNS)
        frames.append(h.assign(model=Path(path).stem.removesuffix("_history")))
    return pd.concat(frames, ignore_index=True)


def load_scaling(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """results/scaling/scaling.csv: its runs, and mean throughput, speed-up and efficiency per configuration."""
    runs = read_csv(path, SCALING_COLUMNS)
    table = throughput_table(runs)
    repeats = runs.groupby(["nodes", "procs_per_node"]).size().rename("runs").reset_index()
    return runs, table.merge(repeats, on=["nodes", "procs_per_node"])


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n."""
    ci = binomtest(int(k), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def sample_sizes(n: int, smallest: int = 8) -> list[int]:
    """Nested sample counts for the convergence check: powers of two from ``smallest``, and ``n``."""
    sizes = [s for s in 2 ** np.arange(int(np.log2(smallest)), 31) if s < n]
    return [int(s) for s in sizes] + [n]


def convergence(cells: pd.DataFrame) -> pd.DataFrame:
    """Verified share of the first n samples (a seeded random subset: samples are drawn as a
    permutation's prefix) with its 95% Wilson interval, per model, method, eps and n."""
    rows = []
    for (model, method, eps), cell in cells.groupby(["model", "method", "epsilon"], sort=False):
        verified = (cell["verdict"] == "verified").to_numpy()
        for n in sample_sizes(len(verified)):
            k = int(verified[:n].sum())
            lo, hi = wilson(k, n)
            rows.append({"model": model, "method": method, "epsilon": eps, "samples": n, "verified": k,
                         "verified_pct": 100 * k / n, "ci_low_pct": 100 * lo, "ci_high_pct": 100 * hi})
    return pd.DataFrame(rows)


def pct(value: float) -> str:
    return f"{value:.1f}%"


@dataclass(frozen=True)
class Headline:
    """The comparison a summary opens with: at ``eps`` and with ``method``, how much more
    the adversarially trained model verifies than the standard one."""
    eps: float
    method: str
    robust: str
    robust_pct: float
    robust_verified: int
    standard: str
    standard_pct: float
    samples: int

    def sentence(self) -> str:
        return (f"At eps={format_eps(self.eps)}, the adversarially trained model {self.robust} verifies "
                f"{pct(self.robust_pct)} of the {self.samples} samples against {pct(self.standard_pct)} "
                f"for the standard model {self.standard} ({self.method} bounds).")


@dataclass
class Campaign:
    """Everything a report states, read from the result files."""
    sweep: pd.DataFrame
    checkpoints: pd.DataFrame
    scaling_runs: pd.DataFrame
    scaling: pd.DataFrame
    provenance: dict

    @classmethod
    def load(cls, sweep, metrics, scaling, provenance) -> "Campaign":
        runs, table = load_scaling(scaling)
        return cls(load_sweep(sweep), load_checkpoints(metrics), runs, table,
                   read_json(provenance, ["config_name", "config_files", "config_sha256", "git", "packages",
                                          "devices", "date", "command"]))

    # ------------------------------------------------------------ what the sweep holds
    @property
    def models(self) -> list[str]:
        """Models in the order of the checkpoints given (the config's order), then any others."""
        listed = list(self.checkpoints["model"])
        return listed + sorted(set(self.sweep["model"]) - set(listed))

    @property
    def methods(self) -> list[str]:
        return methods_in(self.sweep)

    @property
    def eps(self) -> list[float]:
        return sorted(self.sweep["epsilon"].unique())

    @property
    def samples(self) -> int:
        return int(self.sweep["total"].max())

    @property
    def tightest(self) -> str:
        return self.methods[-1]

    def _row(self, model: str, method: str, eps: float) -> pd.DataFrame:
        return self.sweep[(self.sweep["model"] == model) & (self.sweep["method"] == method)
                          & np.isclose(self.sweep["epsilon"], eps)]

    def verified_pct(self, model: str, method: str, eps: float) -> float:
        row = self._row(model, method, eps)
        return float(row["verified_pct"].iat[0]) if len(row) else float("nan")

    def _trained(self, kind: str) -> list[str]:
        names = self.checkpoints.loc[self.checkpoints["training"] == kind, "model"]
        return [m for m in names if m in set(self.sweep["model"])]

    def headline(self) -> Headline | None:
        """The eps where the best adversarially trained model leads the best standard one by
        the most (ties: the smaller eps), with the tightest method; None without both kinds."""
        robust, standard = self._trained("adversarial"), self._trained("standard")
        if not robust or not standard:
            return None
        method, best = self.tightest, None
        for eps in self.eps:
            r = max(robust, key=lambda m: self.verified_pct(m, method, eps))
            s = max(standard, key=lambda m: self.verified_pct(m, method, eps))
            r_pct, s_pct = self.verified_pct(r, method, eps), self.verified_pct(s, method, eps)
            if best is None or r_pct - s_pct > best[0]:
                verified = int(self._row(r, method, eps)["verified"].iat[0])
                best = (r_pct - s_pct, Headline(eps, method, r, r_pct, verified, s, s_pct, self.samples))
        return best[1]

    # ------------------------------------------------------------ the summary
    def summary(self) -> list[str]:
        """The report's summary: sentences whose every number is computed here from the results."""
        out = []
        head = self.headline()
        if head:
            out.append(head.sentence())
        else:
            eps = self.eps[0]
            out.append(f"At eps={format_eps(eps)} ({self.tightest} bounds), " + ", ".join(
                f"{m} verifies {pct(self.verified_pct(m, self.tightest, eps))}" for m in self.models)
                + f" of the {self.samples} samples.")
        out.append(self._method_sentence())
        out.append(self._attack_sentence())
        out.append(self._undecided_sentence())
        out.append(self._accuracy_sentence())
        if head:
            lo, hi = wilson(head.robust_verified, head.samples)
            out.append(f"With {head.samples} samples, the 95% confidence interval (Wilson) of {head.robust}'s "
                       f"verified share at eps={format_eps(head.eps)} is {pct(100 * lo)} to {pct(100 * hi)}.")
        out.append(self._scaling_sentence())
        return [s for s in out if s]

    def _method_sentence(self) -> str:
        if len(self.methods) < 2:
            return ""
        loose, tight = self.methods[-2], self.methods[-1]
        by = self.sweep.groupby("method")
        verified, seconds = by["verified"].sum(), by["avg_time_s"].mean()
        cells = len(self.sweep[self.sweep["method"] == tight])
        ratio = seconds[tight] / seconds[loose] if seconds[loose] > 0 else float("inf")
        return (f"Over the {cells} model and eps cells, {tight} verifies {int(verified[tight])} samples in "
                f"total against {int(verified[loose])} for {loose}, at {ratio:.1f}x its time per sample.")

    def _attack_sentence(self) -> str:
        eps = self.eps[-1]
        rows = self.sweep[(self.sweep["method"] == self.tightest) & np.isclose(self.sweep["epsilon"], eps)]
        by_model = rows.set_index("model")
        parts = [f"{pct(100 * by_model.at[m, 'falsified'] / by_model.at[m, 'total'])} of {m}'s"
                 for m in self.models if m in by_model.index]
        return f"At the largest eps={format_eps(eps)}, the attack finds counterexamples for {' and '.join(parts)} samples."

    def _undecided_sentence(self) -> str:
        rows = self.sweep[self.sweep["method"] == self.tightest]
        return (f"With {self.tightest}, {int(rows['unknown'].sum())} of {int(rows['total'].sum())} verdicts over "
                f"the grid stay unknown and {int(rows['timeout'].sum())} time out; "
                f"{int(rows['misclassified'].sum())} are misclassified samples.")

    def _accuracy_sentence(self) -> str:
        c = self.checkpoints
        if c.empty:
            return ""
        clean = ", ".join(f"{r.model} {pct(r.clean_pct)}" for r in c.itertuples())
        pgd = ", ".join(f"{r.model} {pct(r.pgd_pct)}" for r in c.itertuples())
        return (f"Clean test accuracy: {clean}; accuracy under PGD at eps={format_eps(c['pgd_eps'].iat[0])}: "
                f"{pgd}.")

    def _scaling_sentence(self) -> str:
        t = self.scaling
        base = t.loc[t["world_size"].idxmin()]
        rest = t[t.index != t["world_size"].idxmin()]
        if rest.empty:
            return ""
        parts = [f"{r.devices} reaches {r.speedup:.2f}x ({100 * r.efficiency:.0f}% efficiency)"
                 for r in rest.itertuples()]
        method = self.scaling_runs["config"].iat[0]
        return (f"Scaling one {method} cell of {int(self.scaling_runs['samples'].iat[0])} samples over devices "
                f"against {base['devices']} ({base['samples_per_s']:.1f} samples/s): {'; '.join(parts)}.")

    # ------------------------------------------------------------ tables (strings, as shown)
    def results_table(self) -> pd.DataFrame:
        order = {m: i for i, m in enumerate(self.models)}
        s = self.sweep.sort_values("model", key=lambda col: col.map(order), kind="stable")  # keeps method, eps order
        return pd.DataFrame({
            "model": s["model"], "method": s["method"], "eps": s["epsilon"].map(format_eps),
            "verified": s["verified"].astype(int).astype(str), "falsified": s["falsified"].astype(int).astype(str),
            "unknown": s["unknown"].astype(int).astype(str), "timeout": s["timeout"].astype(int).astype(str),
            "miscl.": s["misclassified"].astype(int).astype(str), "total": s["total"].astype(int).astype(str),
            "verified %": s["verified_pct"].map(lambda v: f"{v:.1f}"),
            "ms / sample": (1000 * s["avg_time_s"]).map(lambda v: f"{v:.2f}"),
            "peak MB": s["avg_mem_MB"].map(lambda v: f"{v:.0f}"),
        })

    def verified_grid(self, method: str | None = None) -> pd.DataFrame:
        """Verified % as model rows x eps columns, for one method (the tightest by default)."""
        method = method or self.tightest
        rows = self.sweep[self.sweep["method"] == method]
        grid = rows.pivot(index="model", columns="epsilon", values="verified_pct")
        grid = grid.loc[[m for m in self.models if m in grid.index]]
        grid.columns = [f"eps {format_eps(e)}" for e in grid.columns]
        return grid.map(lambda v: f"{v:.1f}%").reset_index()

    def scaling_table(self) -> pd.DataFrame:
        t = self.scaling
        return pd.DataFrame({
            "devices": t["devices"], "nodes": t["nodes"].astype(str), "processes": t["world_size"].astype(str),
            "runs": t["runs"].astype(str), "samples / s": t["samples_per_s"].map(lambda v: f"{v:.1f}"),
            "speed-up": t["speedup"].map(lambda v: f"{v:.2f}x"),
            "efficiency": t["efficiency"].map(lambda v: f"{100 * v:.0f}%"),
            "peak MB / process": t["mem_mb"].map(lambda v: f"{v:.0f}"),
        })

    def checkpoint_table(self) -> pd.DataFrame:
        c = self.checkpoints
        return pd.DataFrame({
            "model": c["model"], "training": c["training"],
            "kept epoch": [f"{k} of {e}" for k, e in zip(c["kept_epoch"], c["epochs"])],
            "clean acc.": c["clean_pct"].map(pct),
            "PGD acc.": [f"{pct(p)} (eps {format_eps(e)})" for p, e in zip(c["pgd_pct"], c["pgd_eps"])],
        })
