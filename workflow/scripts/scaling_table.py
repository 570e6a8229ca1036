"""Merge scaling runs into results/scaling/scaling.csv and draw the scaling figure."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tinyscale import cli, io  # noqa: E402
from tinyscale.scaling import COLUMNS, merge_runs, throughput_table  # noqa: E402


def figure(table: pd.DataFrame, png: str, svg: str) -> None:
    t = throughput_table(table)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    base = t.loc[t["world_size"].idxmin()]
    ws = sorted(t["world_size"].unique())
    ax1.plot(ws, [base["samples_per_s"] * w / base["world_size"] for w in ws], "--", color="grey", label="ideal (linear)")
    for nodes, group in t.groupby("nodes"):
        ax1.plot(group["world_size"], group["samples_per_s"], "o-", label=f"{nodes} node(s)")
        ax2.bar([f"{d}" for d in group["devices"]], group["mem_mb"], label=f"{nodes} node(s)")
    ax1.set(xlabel="processes (devices)", ylabel="samples / s", title="Throughput", xticks=ws)
    ax2.set(ylabel="peak memory per process (MB)", title="Memory per device")
    ax1.legend()
    ax1.grid(alpha=0.3)
    fig.tight_layout()
    for path in (png, svg):
        with io.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, format=path.rsplit(".", 1)[1])
    plt.close(fig)


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--png", required=True)
    p.add_argument("--svg", required=True)
    p.add_argument("runs", nargs="+")
    a = p.parse_args()
    table = merge_runs([pd.read_csv(r) for r in a.runs])
    io.write_csv(a.out, table[COLUMNS + ["nodes", "procs_per_node", "world_size"]])
    figure(table, a.png, a.svg)
    for _, r in throughput_table(table).iterrows():
        cli.log.info("%s: %.1f samples/s, speed-up %.2f, efficiency %.0f%%", r["devices"], r["samples_per_s"],
                     r["speedup"], 100 * r["efficiency"])


if __name__ == "__main__":
    cli.run(main)
