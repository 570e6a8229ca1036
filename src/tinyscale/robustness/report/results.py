"""Result files in, every number a report states out.

The figures, the PDF and the deck read results only through this module, so a
number in any of them can be traced to a file and recomputed from it. A result
file that is missing a column stops the report with one error naming the file.

Training seeds: a checkpoint per model and training seed, and the sweep covers
each (``train_seed``). With one seed the report reads as a single run; with
several it states the mean over seeds with their spread (min-max, standard
deviation) beside the per-seed values. Two kinds of interval appear, and the
report says which one each is: the Wilson interval of a verified share covers
the sampling of test images for one checkpoint; the spread over seeds covers
training randomness (every seed is verified on the same samples).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from ...config import format_eps
from ...scaling import UNSTABLE, throughput_table
from ..verify import METHOD_ORDER, VERDICTS
from ...errors import ResultsError
from ...report import read_csv

SWEEP_COLUMNS = ["model", "train_seed", "epsilon", "bound", "total", "avg_time_s", "avg_mem_MB", *VERDICTS]
CELL_COLUMNS = ["model", "train_seed", "method", "epsilon", "sample", "verdict"]
HISTORY_COLUMNS = ["epoch", "loss", "clean_acc", "pgd_acc"]
SCALING_COLUMNS = ["config", "devices", "samples", "total_time_s", "gpu_mem_mb", "nodes", "procs_per_node",
                   "world_size"]
METRICS_KEYS = ["clean_acc", "pgd_acc", "kept_epoch", "recipe", "eval_attack", "seed"]
DASH = "\u2013"  # en dash, for ranges: 65.6–78.1%
SPREAD_FLAG = re.compile(r"repeats differ by")


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


def seeds_in(table: pd.DataFrame) -> list[int]:
    """The training seeds a table holds, in order."""
    return sorted(int(s) for s in table["train_seed"].unique())


def _method_sorted(table: pd.DataFrame, path, then: tuple[str, ...] = ()) -> pd.DataFrame:
    unknown = sorted(set(table["method"]) - set(METHOD_ORDER))
    if unknown:
        raise ResultsError(f"{path}: unknown method(s) {', '.join(unknown)} (known: {', '.join(METHOD_ORDER)})")
    rank = table["method"].map(METHOD_ORDER.index)
    return (table.assign(_rank=rank).sort_values(["model", "train_seed", "_rank", "epsilon", *then], kind="stable")
            .drop(columns="_rank"))


def load_sweep(path: str | Path) -> pd.DataFrame:
    """results/robustness/sweep.csv (a row per model, training seed, method and eps), with
    ``method`` for the seed's ``bound`` and the verified share in %."""
    table = read_csv(path, SWEEP_COLUMNS).rename(columns={"bound": "method"})
    table["train_seed"] = table["train_seed"].astype(int)
    table["verified_pct"] = 100 * table["verified"] / table["total"]
    return _method_sorted(table, path).reset_index(drop=True)


def load_cells(paths: list[str | Path]) -> pd.DataFrame:
    """The per-sample rows of sweep cells, in the samples' selection order."""
    frames = [read_csv(p, CELL_COLUMNS) for p in paths]
    cells = pd.concat(frames, ignore_index=True)
    cells["train_seed"] = cells["train_seed"].astype(int)
    return _method_sorted(cells, paths[0], then=("sample",)).reset_index(drop=True)


def split_stem(stem: str) -> tuple[str, int | None]:
    """``trm_adv__seed1`` -> ("trm_adv", 1); a stem without a seed -> (stem, None)."""
    match = re.fullmatch(r"(.+)__seed(\d+)", stem)
    return (match.group(1), int(match.group(2))) if match else (stem, None)


def _starts(attack: dict) -> str:
    starts = int(attack.get("restarts", 1)) if attack.get("random_start", True) else 0
    return "no random start" if starts == 0 else f"{starts} random start" + ("s" if starts > 1 else "")


def attack_name(attack: dict | None) -> str:
    """Training's evaluation attack as the report names it: ``PGD-10 (eps 0.1, 1 random start)``."""
    if not attack:
        return "no attack"
    return f"PGD-{attack['steps']} (eps {format_eps(attack['eps'])}, {_starts(attack)})"


def loss_name(recipe: dict) -> str:
    """What a model's training loss is: plain cross-entropy, or the adversarial objective."""
    adv = recipe.get("adversarial")
    if not adv:
        return "CE(clean)"
    w = adv.get("clean_weight", 0.5)
    pgd = f"PGD-{adv['steps']} eps {format_eps(adv['eps'])}"
    return f"{w:g}·CE(clean) + {1 - w:g}·CE({pgd})"


def load_checkpoints(paths: list[str | Path]) -> pd.DataFrame:
    """One row per checkpoint's metrics JSON (``{model}__seed{s}.json``: the model is the
    stem's name, the training seed the JSON's ``seed``), in the given order."""
    rows = []
    for path in paths:
        m = read_json(path, METRICS_KEYS)
        model, stem_seed = split_stem(Path(path).stem)
        if stem_seed is not None and stem_seed != int(m["seed"]):
            raise ResultsError(f"{path}: seed {m['seed']} but the file name says seed {stem_seed}")
        recipe, attack = m["recipe"], m["eval_attack"]
        rows.append({"model": model, "train_seed": int(m["seed"]),
                     "training": "adversarial" if recipe.get("adversarial") else "standard",
                     "epochs": recipe.get("epochs"), "kept_epoch": m["kept_epoch"],
                     "clean_pct": 100 * m["clean_acc"], "pgd_pct": 100 * m["pgd_acc"],
                     "pgd_eps": attack["eps"], "pgd_attack": attack_name(attack),
                     "test_samples": m.get("test_samples"), "loss_name": loss_name(recipe),
                     "data": m.get("data", "?"), "device": m.get("device", "?"),
                     "world_size": m.get("world_size", 1)})
    return pd.DataFrame(rows)


def load_histories(paths: list[str | Path]) -> pd.DataFrame:
    """Training histories (``{model}__seed{s}_history.csv``) stacked, with ``model`` and ``train_seed``."""
    frames = []
    for path in paths:
        h = read_csv(path, HISTORY_COLUMNS)
        model, seed = split_stem(Path(path).stem.removesuffix("_history"))
        frames.append(h.assign(model=model, train_seed=0 if seed is None else seed))
    return pd.concat(frames, ignore_index=True)


def _run_throughput(runs: pd.DataFrame) -> pd.Series:
    passes = runs["passes"].fillna(1) if "passes" in runs.columns else 1
    return runs["samples"] * passes / runs["total_time_s"]


def load_scaling(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """results/robustness/scaling/scaling.csv: its runs, and per configuration the mean throughput, speed-up
    and efficiency, the lowest and highest throughput of its repeats (the spread columns of
    scaling.csv where present, else computed from its runs), the speed-up and efficiency of those
    two repeats against the smallest configuration's mean, and whether the repeats are flagged
    (more than 10% apart, or flagged in ``notes``)."""
    runs = read_csv(path, SCALING_COLUMNS)
    table = throughput_table(runs)
    keys = ["nodes", "procs_per_node"]
    per_s = runs.assign(_per_s=_run_throughput(runs))
    computed = per_s.groupby(keys, as_index=False).agg(runs=("_per_s", "size"), _lo=("_per_s", "min"),
                                                       _hi=("_per_s", "max"))
    flagged = (runs.assign(_flag=runs["notes"].astype(str).str.contains(SPREAD_FLAG) if "notes" in runs else False)
               .groupby(keys, as_index=False)["_flag"].any())
    table = table.merge(computed, on=keys).merge(flagged, on=keys)
    if "repeat_min_samples_per_s" not in table.columns:
        table["repeat_min_samples_per_s"], table["repeat_max_samples_per_s"] = table["_lo"], table["_hi"]
    if "repeat_spread" not in table.columns:
        lo, hi = table["repeat_min_samples_per_s"], table["repeat_max_samples_per_s"]
        table["repeat_spread"] = (hi / lo - 1).where(lo > 0, 0.0)
    base = table.loc[table["world_size"].idxmin()]
    ideal = base["samples_per_s"] * table["world_size"] / base["world_size"]
    table["speedup_min"] = table["repeat_min_samples_per_s"] / base["samples_per_s"]
    table["speedup_max"] = table["repeat_max_samples_per_s"] / base["samples_per_s"]
    table["efficiency_min"] = table["repeat_min_samples_per_s"] / ideal
    table["efficiency_max"] = table["repeat_max_samples_per_s"] / ideal
    table["flagged"] = table["_flag"] | (table["repeat_spread"] > UNSTABLE + 1e-9)
    return runs, table.drop(columns=["_lo", "_hi", "_flag"])


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
    permutation's prefix) with its 95% Wilson interval, per model, training seed, method, eps and n."""
    rows = []
    for (model, seed, method, eps), cell in cells.groupby(["model", "train_seed", "method", "epsilon"], sort=False):
        verified = (cell["verdict"] == "verified").to_numpy()
        for n in sample_sizes(len(verified)):
            k = int(verified[:n].sum())
            lo, hi = wilson(k, n)
            rows.append({"model": model, "train_seed": seed, "method": method, "epsilon": eps, "samples": n,
                         "verified": k, "verified_pct": 100 * k / n, "ci_low_pct": 100 * lo,
                         "ci_high_pct": 100 * hi})
    return pd.DataFrame(rows)


def pct(value: float) -> str:
    return f"{value:.1f}%"


def seeds_text(seeds) -> str:
    seeds = [str(s) for s in seeds]
    return seeds[0] if len(seeds) == 1 else ", ".join(seeds[:-1]) + " and " + seeds[-1]


@dataclass(frozen=True)
class Spread:
    """A value over training seeds: per seed, mean, min, max and sample standard deviation (n - 1)."""
    values: dict[int, float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.values.values()))) if self.values else float("nan")

    @property
    def lo(self) -> float:
        return float(min(self.values.values()))

    @property
    def hi(self) -> float:
        return float(max(self.values.values()))

    @property
    def std(self) -> float:
        return float(np.std(list(self.values.values()), ddof=1)) if self.n > 1 else 0.0

    def range(self, fmt="{:.1f}", unit: str = "%") -> str:
        """``65.6–78.1%``"""
        return f"{fmt.format(self.lo)}{DASH}{fmt.format(self.hi)}{unit}"

    def pct(self) -> str:
        """``71.9%`` for one seed, ``71.9% (65.6–78.1%)`` for several."""
        return pct(self.mean) if self.n == 1 else f"{pct(self.mean)} ({self.range()})"

    def mean_std(self, fmt="{:.1f}", unit: str = "%") -> str:
        """``71.9% ± 6.3`` (the std in the mean's unit, here percentage points)."""
        return f"{fmt.format(self.mean)}{unit} ± {fmt.format(self.std)}"


@dataclass(frozen=True)
class Headline:
    """The comparison a summary opens with: at ``eps`` and with ``method``, how much more
    the adversarially trained model verifies than the standard one (over training seeds:
    the mean, its min-max, and whether it leads with every seed)."""
    eps: float
    method: str
    robust: str
    robust_verified: dict[int, int]   # seed -> verified samples
    standard: str
    standard_verified: dict[int, int]
    samples: int

    @property
    def robust_pct(self) -> Spread:
        return Spread({s: 100 * k / self.samples for s, k in self.robust_verified.items()})

    @property
    def standard_pct(self) -> Spread:
        return Spread({s: 100 * k / self.samples for s, k in self.standard_verified.items()})

    @property
    def paired_seeds(self) -> list[int]:
        return sorted(set(self.robust_verified) & set(self.standard_verified))

    @property
    def holds_for_every_seed(self) -> bool:
        """The adversarial model verifies more than the standard one with each training seed."""
        return all(self.robust_verified[s] > self.standard_verified[s] for s in self.paired_seeds)

    @property
    def several_seeds(self) -> bool:
        return max(len(self.robust_verified), len(self.standard_verified)) > 1

    def sentence(self) -> str:
        r, s = self.robust_pct, self.standard_pct
        if not self.several_seeds:
            return (f"At eps={format_eps(self.eps)}, the adversarially trained model {self.robust} verifies "
                    f"{pct(r.mean)} of the {self.samples} samples against {pct(s.mean)} "
                    f"for the standard model {self.standard} ({self.method} bounds).")
        s_seeds = f"mean of {s.n} training seeds; " if s.n != r.n else ""
        per_seed = ", ".join(f"seed {k}: {self.robust_verified[k]} vs {self.standard_verified[k]}"
                             for k in self.paired_seeds)
        verdict = ("verifies more than" if self.holds_for_every_seed else "does not verify more than")
        return (f"At eps={format_eps(self.eps)}, the adversarially trained model {self.robust} verifies "
                f"{pct(r.mean)} of the {self.samples} samples (mean of {r.n} training seeds; {r.range()}) "
                f"against {pct(s.mean)} ({s_seeds}{s.range()}) for the standard model {self.standard} "
                f"({self.method} bounds); {self.robust} {verdict} {self.standard} on every training seed "
                f"({per_seed} of the {self.samples} samples).")


@dataclass
class Results:
    """Everything a report states, read from the result files."""
    sweep: pd.DataFrame
    checkpoints: pd.DataFrame
    scaling_runs: pd.DataFrame
    scaling: pd.DataFrame
    provenance: dict

    @classmethod
    def load(cls, sweep, metrics, scaling, provenance: dict) -> "Results":
        """From the result files, and the campaign's provenance record (see
        tinyscale.report.provenance.load)."""
        runs, table = load_scaling(scaling)
        return cls(load_sweep(sweep), load_checkpoints(metrics), runs, table, provenance)

    # ------------------------------------------------------------ what the sweep holds
    @property
    def models(self) -> list[str]:
        """Models in the order of the checkpoints given (the config's order), then any others."""
        listed = list(dict.fromkeys(self.checkpoints["model"]))
        return listed + sorted(set(self.sweep["model"]) - set(listed))

    @property
    def methods(self) -> list[str]:
        return methods_in(self.sweep)

    @property
    def eps(self) -> list[float]:
        return sorted(self.sweep["epsilon"].unique())

    @property
    def seeds(self) -> list[int]:
        """The training seeds of the sweep."""
        return seeds_in(self.sweep)

    @property
    def several_seeds(self) -> bool:
        return len(self.seeds) > 1

    @property
    def samples(self) -> int:
        return int(self.sweep["total"].max())

    @property
    def tightest(self) -> str:
        return self.methods[-1]

    @property
    def test_images(self) -> int | None:
        """The test split's size the checkpoints were evaluated on (None where not recorded)."""
        n = self.checkpoints["test_samples"].dropna().unique() if "test_samples" in self.checkpoints else []
        return int(n[0]) if len(n) == 1 else None

    @property
    def eval_attack(self) -> str | None:
        """Training's evaluation attack (that of the PGD accuracies), when every checkpoint shares it."""
        names = self.checkpoints["pgd_attack"].unique()
        return str(names[0]) if len(names) == 1 else None

    @property
    def sweep_attack(self) -> str:
        """The sweep's attack, named from robustness.attack of the resolved config that
        provenance.json records (``config``), e.g. ``the sweep's attack (PGD-20, 1 random start)``."""
        attack = (self.provenance.get("config") or {}).get("robustness", {}).get("attack")
        if not attack or "steps" not in attack:
            return "the sweep's PGD attack"
        return f"the sweep's attack (PGD-{attack['steps']}, {_starts(attack)})"

    def seeds_of(self, model: str) -> list[int]:
        return seeds_in(self.sweep[self.sweep["model"] == model])

    def _rows(self, model: str, method: str, eps: float) -> pd.DataFrame:
        return self.sweep[(self.sweep["model"] == model) & (self.sweep["method"] == method)
                          & np.isclose(self.sweep["epsilon"], eps)]

    def counts(self, model: str, method: str, eps: float, column: str = "verified") -> dict[int, int]:
        """Per training seed, a verdict count of one (model, method, eps)."""
        rows = self._rows(model, method, eps)
        return {int(s): int(v) for s, v in zip(rows["train_seed"], rows[column])}

    def share(self, model: str, method: str, eps: float, column: str = "verified") -> Spread:
        """Per training seed, a verdict's share (%) of the samples of one (model, method, eps)."""
        rows = self._rows(model, method, eps)
        return Spread({int(s): 100 * v / t for s, v, t in zip(rows["train_seed"], rows[column], rows["total"])})

    def verified_pct(self, model: str, method: str, eps: float) -> float:
        """Mean verified share over training seeds (NaN where the sweep has no such cell)."""
        return self.share(model, method, eps).mean

    def _trained(self, kind: str) -> list[str]:
        names = self.checkpoints.loc[self.checkpoints["training"] == kind, "model"]
        return [m for m in dict.fromkeys(names) if m in set(self.sweep["model"])]

    def headline(self) -> Headline | None:
        """The eps where the best adversarially trained model leads the best standard one by
        the most, in mean verified share over training seeds (ties: the smaller eps), with the
        tightest method; None without both kinds."""
        robust, standard = self._trained("adversarial"), self._trained("standard")
        if not robust or not standard:
            return None
        method, best = self.tightest, None
        for eps in self.eps:
            r = max(robust, key=lambda m: self.verified_pct(m, method, eps))
            s = max(standard, key=lambda m: self.verified_pct(m, method, eps))
            lead = round(self.verified_pct(r, method, eps) - self.verified_pct(s, method, eps), 9)
            if best is None or lead > best[0]:
                best = (lead, Headline(eps, method, r, self.counts(r, method, eps), s,
                                       self.counts(s, method, eps), self.samples))
        return best[1]

    # ------------------------------------------------------------ the summary
    def _over_seeds(self) -> str:
        return f" (mean and min{DASH}max over {len(self.seeds)} training seeds)" if self.several_seeds else ""

    def summary(self, undecided: bool = True) -> list[str]:
        """The report's summary: sentences whose every number is computed here from the results
        (``undecided``: with the sentence on unknown, timed-out and misclassified samples)."""
        out = []
        head = self.headline()
        if head:
            out.append(head.sentence())
        else:
            eps = self.eps[0]
            out.append(f"At eps={format_eps(eps)} ({self.tightest} bounds), " + ", ".join(
                f"{m} verifies {self.share(m, self.tightest, eps).pct()}" for m in self.models)
                + f" of the {self.samples} samples{self._over_seeds()}.")
        out.append(self._method_sentence())
        out.append(self._attack_sentence())
        out.append(self._undecided_sentence() if undecided else "")
        out.append(self._accuracy_sentence())
        if head:
            out.append(self._interval_sentence(head))
        out.append(self._scaling_sentence())
        return [s for s in out if s]

    def _cells_text(self) -> str:
        """``6 cells (2 models x 3 eps)``, with the training seeds when there are several."""
        parts = [f"{len(self.models)} models"] + ([f"{len(self.seeds)} training seeds"] if self.several_seeds
                                                  else []) + [f"{len(self.eps)} eps"]
        cells = len(self.sweep[self.sweep["method"] == self.tightest])
        return f"{cells} cells ({' x '.join(parts)})"

    def _method_sentence(self) -> str:
        if len(self.methods) < 2:
            return ""
        loose, tight = self.methods[-2], self.methods[-1]
        by = self.sweep.groupby("method")
        verified, seconds = by["verified"].sum(), by["avg_time_s"].mean()
        total = int(self.sweep.loc[self.sweep["method"] == tight, "total"].sum())
        ratio = seconds[tight] / seconds[loose] if seconds[loose] > 0 else float("inf")
        return (f"Over the {self._cells_text()}, {tight} verifies {int(verified[tight])} of the {total} "
                f"sample-cells (a sample at one eps for one checkpoint) against {int(verified[loose])} for "
                f"{loose}, at {ratio:.1f}x its time per sample.")

    def _attack_sentence(self) -> str:
        eps = self.eps[-1]
        parts = [f"{self.share(m, self.tightest, eps, 'falsified').pct()} of {m}'s"
                 for m in self.models if len(self._rows(m, self.tightest, eps))]
        return (f"At the largest eps={format_eps(eps)}, {self.sweep_attack} finds counterexamples for "
                f"{' and '.join(parts)} {self.samples} samples{self._over_seeds()}.")

    def misclassified(self) -> dict[str, dict[int, int]]:
        """Per model and training seed, the distinct misclassified samples (wrong at eps = 0: the same
        samples in every cell of a checkpoint, so one cell's count, not the sum over eps)."""
        out = {}
        for model in self.models:
            rows = self.sweep[self.sweep["model"] == model]
            out[model] = {int(s): int(g["misclassified"].max()) for s, g in rows.groupby("train_seed")}
        return out

    def _misclassified_text(self) -> str:
        parts = []
        for model, per_seed in self.misclassified().items():
            values = [per_seed[s] for s in sorted(per_seed)]
            if len(values) == 1:
                parts.append(f"{model} {values[0]}")
            elif len(set(values)) == 1:
                parts.append(f"{model} {values[0]} with each training seed")
            else:
                parts.append(f"{model} {seeds_text(values)} (training seeds {seeds_text(sorted(per_seed))})")
        return ", ".join(parts)

    def _undecided_sentence(self) -> str:
        rows = self.sweep[self.sweep["method"] == self.tightest]
        return (f"With {self.tightest}, {int(rows['unknown'].sum())} of the {int(rows['total'].sum())} "
                f"sample-cells over the grid stay unknown and {int(rows['timeout'].sum())} time out. "
                f"Misclassified (wrong at eps = 0, so neither verified nor falsified at any eps), of the "
                f"{self.samples} samples: {self._misclassified_text()}.")

    def accuracy(self, model: str, column: str) -> Spread:
        rows = self.checkpoints[self.checkpoints["model"] == model]
        return Spread(dict(zip(rows["train_seed"].astype(int), rows[column])))

    def _test_images_text(self) -> str:
        return f"the {self.test_images} test images" if self.test_images else "the test split"

    def _accuracy_sentence(self) -> str:
        c = self.checkpoints
        if c.empty:
            return ""
        models = list(dict.fromkeys(c["model"]))
        clean = ", ".join(f"{m} {self.accuracy(m, 'clean_pct').pct()}" for m in models)
        if self.eval_attack:
            pgd = ", ".join(f"{m} {self.accuracy(m, 'pgd_pct').pct()}" for m in models)
            attack = f"training's evaluation attack, {self.eval_attack}"
        else:
            pgd = ", ".join(f"{m} {self.accuracy(m, 'pgd_pct').pct()} ({c.loc[c['model'] == m, 'pgd_attack'].iat[0]})"
                            for m in models)
            attack = "training's evaluation attack"
        return (f"Clean accuracy on {self._test_images_text()}: {clean}; accuracy under {attack}, on the same "
                f"images: {pgd}{self._over_seeds()}. {self.sweep_attack[0].upper()}{self.sweep_attack[1:]} is "
                f"another: it runs at each eps on the {self.samples} selected samples only.")

    def _interval_sentence(self, head: Headline) -> str:
        eps = format_eps(head.eps)
        if not head.several_seeds:
            lo, hi = wilson(head.robust_verified[self.seeds_of(head.robust)[0]], head.samples)
            return (f"With {head.samples} samples, the 95% confidence interval (Wilson) of {head.robust}'s "
                    f"verified share at eps={eps} is {pct(100 * lo)} to {pct(100 * hi)}; it covers the "
                    f"sampling of the test images only, for this one trained checkpoint.")
        parts = []
        for seed, k in sorted(head.robust_verified.items()):
            lo, hi = wilson(k, head.samples)
            parts.append(f"{pct(100 * lo)} to {pct(100 * hi)} (seed {seed})")
        r = head.robust_pct
        return (f"With {head.samples} samples, the 95% confidence intervals (Wilson) of {head.robust}'s "
                f"verified share at eps={eps} are {' and '.join(parts)}: each covers the sampling of the test "
                f"images only, for one trained checkpoint. The spread over the {r.n} training seeds "
                f"({r.range()}, standard deviation {r.std:.1f} points) covers training randomness, "
                f"on the same samples.")

    def _scaling_sentence(self) -> str:
        t = self.scaling
        base = t.loc[t["world_size"].idxmin()]
        rest = t[t.index != t["world_size"].idxmin()]
        if rest.empty:
            return ""
        parts = [f"{r.devices} reaches {r.speedup:.2f}x ({r.speedup_min:.2f}{DASH}{r.speedup_max:.2f}x over "
                 f"its {r.runs} repeats; {100 * r.efficiency:.0f}% efficiency)" for r in rest.itertuples()]
        method = self.scaling_runs["config"].iat[0]
        sentence = (f"Scaling one {method} cell of {int(self.scaling_runs['samples'].iat[0])} samples over "
                    f"devices against {base['devices']} ({base['samples_per_s']:.1f} samples/s, repeats "
                    f"{base['repeat_min_samples_per_s']:.1f}{DASH}{base['repeat_max_samples_per_s']:.1f}): "
                    f"{'; '.join(parts)}.")
        return sentence + self.scaling_flag_sentence()

    def scaling_flag_sentence(self) -> str:
        """Which configurations' repeats lie more than 10% apart (so their speed-up is uncertain)."""
        flagged = self.scaling[self.scaling["flagged"]]
        if flagged.empty:
            return ""
        parts = [f"{r.devices} by {100 * r.repeat_spread:.0f}%" for r in flagged.itertuples()]
        return (f" Repeats more than {100 * UNSTABLE:.0f}% apart (flagged in scaling.csv): {', '.join(parts)}; "
                f"those speed-ups are uncertain.")

    def figure_note(self, name: str) -> str:
        """What a figure shows of the training seeds and which uncertainty its intervals cover
        (added to its caption in the PDF)."""
        n = len(self.seeds)
        seeds = seeds_text(self.seeds)
        if name in ("verified_vs_eps", "time_vs_eps", "memory_vs_eps"):
            return (f"Lines are the mean over {n} training seeds ({seeds}); the shaded band spans their "
                    f"min{DASH}max (training randomness)." if self.several_seeds else "")
        if name == "verified_heatmap":
            return (f"Cells show the mean over {n} training seeds ({seeds}) with their min{DASH}max "
                    f"(training randomness)." if self.several_seeds else "")
        if name == "verdicts":
            return f"One column per model and training seed ({seeds})." if self.several_seeds else ""
        if name == "convergence":
            return (f"One line per training seed ({seeds}; line style): each band is that checkpoint's Wilson "
                    f"interval (test-image sampling), not a spread over seeds." if self.several_seeds else "")
        if name == "training_curves":
            return f"One line per training seed ({seeds}; line style)." if self.several_seeds else ""
        if name == "scaling":
            flagged = self.scaling[self.scaling["flagged"]]
            return ("Flagged here: " + ", ".join(f"{r.devices} ({100 * r.repeat_spread:.0f}%)"
                                                 for r in flagged.itertuples()) + ".") if len(flagged) else ""
        return ""

    # ------------------------------------------------------------ tables (strings, as shown)
    def _model_sorted(self, table: pd.DataFrame) -> pd.DataFrame:
        order = {m: i for i, m in enumerate(self.models)}
        return table.sort_values("model", key=lambda col: col.map(order), kind="stable")  # keeps the rest's order

    def results_table(self) -> pd.DataFrame:
        """Every sweep cell (with its training seed where there are several)."""
        s = self._model_sorted(self.sweep)
        seed = {"seed": s["train_seed"].astype(str)} if self.several_seeds else {}
        return pd.DataFrame({
            "model": s["model"], **seed, "method": s["method"], "eps": s["epsilon"].map(format_eps),
            "verified": s["verified"].astype(int).astype(str), "falsified": s["falsified"].astype(int).astype(str),
            "unknown": s["unknown"].astype(int).astype(str), "timeout": s["timeout"].astype(int).astype(str),
            "miscl.": s["misclassified"].astype(int).astype(str), "total": s["total"].astype(int).astype(str),
            "verified %": s["verified_pct"].map(lambda v: f"{v:.1f}"),
            "ms / sample": (1000 * s["avg_time_s"]).map(lambda v: f"{v:.2f}"),
            "peak MB": s["avg_mem_MB"].map(lambda v: f"{v:.0f}"),
        })

    def seed_table(self) -> pd.DataFrame:
        """Verified % per (model, method, eps) over training seeds: mean ± std, min–max, each seed."""
        rows = []
        for model in self.models:
            for method in self.methods:
                for eps in self.eps:
                    share = self.share(model, method, eps)
                    if not share.n:
                        continue
                    rows.append({"model": model, "method": method, "eps": format_eps(eps),
                                 "mean ± std": share.mean_std(unit=""), f"min{DASH}max": share.range(unit=""),
                                 **{f"seed {s}": f"{share.values[s]:.1f}" if s in share.values else ""
                                    for s in self.seeds}})
        return pd.DataFrame(rows)

    def verified_grid(self, method: str | None = None) -> pd.DataFrame:
        """Verified % as model rows x eps columns, for one method (the tightest by default); with
        several training seeds ``mean% ± std`` and, on a second line, the seeds' values."""
        method = method or self.tightest
        out = {"model": [m for m in self.models if len(self.sweep[(self.sweep["model"] == m)
                                                                   & (self.sweep["method"] == method)])]}
        for eps in self.eps:
            column = []
            for model in out["model"]:
                share = self.share(model, method, eps)
                column.append(pct(share.mean) if share.n == 1 else
                              f"{share.mean_std()}\n(" + ", ".join(f"{share.values[s]:.1f}"
                                                                   for s in sorted(share.values)) + ")")
            out[f"eps {format_eps(eps)}"] = column
        return pd.DataFrame(out)

    def scaling_table(self) -> pd.DataFrame:
        t = self.scaling
        return pd.DataFrame({
            "devices": t["devices"], "nodes": t["nodes"].astype(str), "processes": t["world_size"].astype(str),
            "runs": t["runs"].astype(str), "samples / s": t["samples_per_s"].map(lambda v: f"{v:.1f}"),
            f"repeats min{DASH}max": [f"{lo:.1f}{DASH}{hi:.1f}" for lo, hi in
                                      zip(t["repeat_min_samples_per_s"], t["repeat_max_samples_per_s"])],
            "spread": [f"{100 * s:.0f}%" + (" (> 10%)" if f else "") for s, f in zip(t["repeat_spread"],
                                                                                      t["flagged"])],
            "speed-up": t["speedup"].map(lambda v: f"{v:.2f}x"),
            "efficiency": t["efficiency"].map(lambda v: f"{100 * v:.0f}%"),
            "peak MB / process": t["mem_mb"].map(lambda v: f"{v:.0f}"),
        })

    def pgd_header(self) -> str:
        """The PGD accuracy column's header: the attack named when all checkpoints share it."""
        return f"{self.eval_attack} acc." if self.eval_attack else "PGD acc. (training's eval attack)"

    def checkpoint_table(self) -> pd.DataFrame:
        """A row per checkpoint (model and training seed); with several seeds, per model the
        mean ± std and the min–max over seeds below its seeds' rows."""
        c = self._model_sorted(self.checkpoints.sort_values("train_seed", kind="stable"))
        pgd = self.pgd_header()

        def pgd_cell(r) -> str:
            return pct(r.pgd_pct) if self.eval_attack else f"{pct(r.pgd_pct)} ({r.pgd_attack})"

        rows = []
        for model in dict.fromkeys(c["model"]):
            mine = c[c["model"] == model]
            for r in mine.itertuples():
                rows.append({"model": model, "training": r.training, "seed": str(r.train_seed),
                             "kept epoch": f"{r.kept_epoch} of {r.epochs}", "clean acc.": pct(r.clean_pct),
                             pgd: pgd_cell(r)})
            if self.several_seeds and len(mine) > 1:
                clean, adv = self.accuracy(model, "clean_pct"), self.accuracy(model, "pgd_pct")
                rows.append({"model": model, "training": "", "seed": "mean ± std", "kept epoch": "",
                             "clean acc.": clean.mean_std(), pgd: adv.mean_std()})
                rows.append({"model": model, "training": "", "seed": f"min{DASH}max", "kept epoch": "",
                             "clean acc.": clean.range(), pgd: adv.range()})
        table = pd.DataFrame(rows)
        return table if self.several_seeds else table.drop(columns="seed")
