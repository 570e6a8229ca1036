"""TRM and HRM training throughput and achieved FLOP/s against this machine's fp32 matmul peak.

For the embedded default's model (config/config.yaml's reasoning block on 6x6
boards) and the paper's Sudoku model (hidden 512, T=3, n=6, two layers,
mlp_t, 16 puzzle-embedding positions, 9x9 boards), it times full training
steps of the core's recipe parts (TRM supervision step: forward, stable-max
loss, backward, clipping, AdamW) and reports examples/s, tokens/s (81 or 36
cells an example) and achieved FLOP/s. Beside them, in the same run, HRM
(act q_learning) as the embedded grid has it (6x6, hidden 64, mlp_t, one H and
one L block, 2 x 2 cycles, one puzzle position) and at the HRM paper's size
(hidden 512, attention, four H and four L blocks, 2 x 2 cycles, one puzzle
position, 27.3M parameters) at a small batch.

FLOPs are counted analytically (tinyscale.reasoning.models.flops_per_example):
2 x in x out per position for every Linear, plus attention's scores; TRM's
supervision step runs the network (n + 1) x T times forward and
back-propagates through the last recursion only (2 x its forward); HRM's runs
H_cycles x L_cycles L updates and H_cycles H updates forward, back-propagates
through the last of each, and adds one forward for the Q-learning target.
tests/test_trm.py and tests/test_models.py check the counts against torch's
FLOP counter. The peak is the best of a few fp32 matmuls of 2048 x 2048 (all
threads), measured in the same run.

Then a profile of the 512-wide TRM's step: the share of time in matmuls
against everything else (element-wise ops, norms, the optimizer), which is
where the rest of the peak goes.

    .venv/bin/python bench/trm_train.py            # about a minute on 2 cores
    .venv/bin/python bench/trm_train.py --quick    # seconds (tiny batches, one timed step)

Numbers also go to bench/out/trm_train.json (``--out``): the TRM rows under
"runs", the HRM rows under "hrm_runs".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tinyscale.reasoning import supervision                      # noqa: E402
from tinyscale.reasoning.models import ModelConfig, build_model, flops_per_example   # noqa: E402

EMBEDDED = dict(seq_len=36, vocab_size=8, hidden=64, expansion=4, L_layers=2, H_cycles=2, L_cycles=2,
                halt_max_steps=4)
PAPER = dict(seq_len=81, vocab_size=11, hidden=512, expansion=4, L_layers=2, H_cycles=3, L_cycles=6,
             puzzle_emb_len=16, halt_max_steps=16)
HRM_EMBEDDED = {**EMBEDDED, "arch": "hrm", "act": "q_learning", "H_layers": 1, "L_layers": 1,
                "puzzle_emb_len": 1}   # the embedded grid's hrm
HRM_PAPER = dict(seq_len=81, vocab_size=11, hidden=512, heads=8, expansion=4, H_layers=4, L_layers=4,
                 H_cycles=2, L_cycles=2, mixer="attention", puzzle_emb_len=1, halt_max_steps=16,
                 arch="hrm", act="q_learning")


def matmul_peak(n: int, repeats: int) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def make_step(cfg: ModelConfig, batch: int):
    torch.manual_seed(0)
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95))
    labels = torch.randint(2, cfg.vocab_size, (batch, cfg.seq_len))
    b = {"inputs": torch.where(torch.rand(batch, cfg.seq_len) < 0.5, labels, 1), "labels": labels,
         "puzzle_identifiers": torch.zeros(batch, dtype=torch.long)}
    state = {"carry": supervision.empty_carry(model, b)}

    def step():
        loss, _, state["carry"] = supervision.train_step(model, model, state["carry"], b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model, step


def bench_model(name: str, cfg: ModelConfig, batch: int, steps: int, peak: float) -> dict:
    model, step = make_step(cfg, batch)
    step()                                            # warm-up (allocations)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t) / steps
    flops = flops_per_example(cfg)["train"] * batch
    return {"model": name, "arch": cfg.arch, "parameters": sum(p.numel() for p in model.parameters()),
            "batch": batch,
            "step_s": dt, "examples_per_s": batch / dt, "tokens_per_s": batch * cfg.seq_len / dt,
            "gflop_per_step": flops / 1e9, "achieved_gflops": flops / dt / 1e9, "fraction_of_peak": flops / dt / peak}


def profile_shares(cfg: ModelConfig, batch: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    _, step = make_step(cfg, batch)
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    rows = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in rows)
    matmul = sum(t for k, t in rows if k in ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul",
                                             "aten::_scaled_dot_product_flash_attention_for_cpu"))
    top = sorted(rows, key=lambda r: -r[1])[:8]
    return {"matmul_share": matmul / total, "top_ops": [(k, t / total) for k, t in top]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "trm_train.json"))
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    peak = matmul_peak(512 if a.quick else 2048, 3 if a.quick else 10)
    quick = a.quick
    runs = [("TRM embedded (6x6, hidden 64, T=2, n=2)", ModelConfig(**EMBEDDED), 8 if quick else 128,
             1 if quick else 5),
            ("TRM paper (9x9, hidden 512, T=3, n=6)", ModelConfig(**PAPER), 2 if quick else 16, 1 if quick else 3)]
    hrm_runs = [("HRM embedded (6x6, hidden 64, 1+1 blocks)", ModelConfig(**HRM_EMBEDDED), 8 if quick else 128,
                 1 if quick else 5),
                ("HRM paper (9x9, hidden 512, 4+4 blocks)", ModelConfig(**HRM_PAPER), 1 if quick else 8,
                 1 if quick else 3)]
    results = [bench_model(name, cfg, batch, steps, peak) for name, cfg, batch, steps in runs]
    hrm_results = [bench_model(name, cfg, batch, steps, peak) for name, cfg, batch, steps in hrm_runs]
    prof = profile_shares(ModelConfig(**PAPER), 2 if a.quick else 16)
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    print(f"{'model':42} {'params':>10} {'batch':>5} {'step s':>7} {'ex/s':>8} {'tok/s':>9} {'GFLOP/s':>8} "
          f"{'of peak':>8}")
    for r in results + hrm_results:
        print(f"{r['model']:42} {r['parameters']:10,d} {r['batch']:5d} {r['step_s']:7.3f} {r['examples_per_s']:8.1f} "
              f"{r['tokens_per_s']:9.0f} {r['achieved_gflops']:8.1f} {r['fraction_of_peak']:8.1%}")
    print(f"512-wide TRM step profile: matmuls {prof['matmul_share']:.1%} of CPU time; top ops:")
    for k, share in prof["top_ops"]:
        print(f"  {k:50} {share:6.1%}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"quick": a.quick, "peak_gflops": peak / 1e9, "threads": torch.get_num_threads(),
                               "runs": results, "hrm_runs": hrm_results, "profile": prof}, indent=2) + "\n")


if __name__ == "__main__":
    main()
