"""TRM: shapes and parameter counts, halting, the stable-max loss, EMA, the sampler."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tinyscale.reasoning import supervision
from tinyscale.reasoning.training import Split, epoch_order, loop_settings, stream
from tinyscale.reasoning.models import ModelConfig, flops_per_example
from tinyscale.reasoning.trm import TRM
from tinyscale.trainer import EMA, Settings

PAPER = dict(seq_len=81, vocab_size=11, hidden=512, expansion=4, L_layers=2, H_cycles=3, L_cycles=6,
             puzzle_emb_len=16, halt_max_steps=16)


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("mixer, millions", [("mlp_t", 5.0), ("attention", 6.8)])
def test_paper_sudoku_model_has_the_papers_parameter_count(mixer, millions):
    n = params(TRM(ModelConfig(**PAPER, mixer=mixer)))
    assert abs(n / 1e6 - millions) < 0.05, n


def tiny(**kw) -> TRM:
    torch.manual_seed(0)
    return TRM(ModelConfig(**{**dict(seq_len=16, vocab_size=6, hidden=32, H_cycles=2, L_cycles=2,
                                     halt_max_steps=4, heads=4), **kw}))


def batch(n=8, seq=16, vocab=6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(2, vocab, (n, seq), generator=g)
    inputs = torch.where(torch.rand(n, seq, generator=g) < 0.5, labels, 1)
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": torch.zeros(n, dtype=torch.long)}


@pytest.mark.parametrize("mixer", ["mlp_t", "attention"])
@pytest.mark.parametrize("puzzle_emb_len", [0, 2])
def test_shapes(mixer, puzzle_emb_len):
    m = tiny(mixer=mixer, puzzle_emb_len=puzzle_emb_len, puzzle_emb_width=40 if puzzle_emb_len else 0)
    b = batch()
    y, z = m.initial_state(8, torch.device("cpu"))
    assert y.shape == (8, 16 + puzzle_emb_len, 32)
    y, z, logits, q = m(y, z, b["inputs"], b["puzzle_identifiers"])
    assert logits.shape == (8, 16, 6) and q.shape == (8, 2)        # (q_halt, q_continue)
    assert not y.requires_grad and not z.requires_grad      # carried detached
    assert torch.allclose(q, torch.full_like(q, -5.0))      # Q head starts at its bias


def test_one_step_gradient_reaches_only_the_last_recursion():
    """T-1 recursions run without gradient: the loss's graph holds n + 1 net calls per layer."""
    m = tiny(H_cycles=3, L_cycles=2)
    calls = []
    m.blocks[0].register_forward_hook(lambda mod, i, o: calls.append(o.requires_grad))
    b = batch()
    y, z = m.initial_state(8, torch.device("cpu"))
    m(y, z, b["inputs"], b["puzzle_identifiers"])
    assert calls == [False] * 6 + [True] * 3


def test_stablemax_cross_entropy_matches_its_formula():
    logits = torch.tensor([[[2.0, -1.0, 0.0, -3.0]]])
    labels = torch.tensor([[1]])
    s = [3.0, 1 / 2, 1.0, 1 / 4]
    expected = -math.log(s[1] / sum(s))
    assert supervision.stablemax_cross_entropy(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    assert supervision.stablemax_cross_entropy(logits, torch.tensor([[0]])).item() == 0  # PAD ignored


def test_training_halts_early_and_refills_evaluation_runs_every_step():
    m = tiny(halt_max_steps=4, halt_exploration=0.0)
    b = batch()
    with torch.no_grad():
        m.q_head.bias.fill_(5.0)          # q_halt > 0 everywhere: every sample halts after one step
    carry = supervision.empty_carry(m, b)
    _, sums, carry = supervision.train_step(m, m, carry, b)
    assert carry.halted.all() and (carry.steps == 1).all()
    assert sums[supervision.METRICS.index("count")] == 8
    with torch.no_grad():
        m.q_head.bias.fill_(-5.0)         # never halts by itself: halts at Nsup
    carry = supervision.empty_carry(m, b)
    for step in range(1, 5):
        other = batch(n=8)
        other["inputs"] = other["inputs"].flip(0)
        _, sums, carry = supervision.train_step(m, m, carry, other if step > 1 else b)
        assert (carry.steps == step).all() and bool(carry.halted.all()) == (step == 4)
        assert torch.equal(carry.inputs, b["inputs"])    # not halted: keeps its own puzzle
    sums, _ = supervision.evaluate_batch(m, b)
    rates = supervision.rates(sums)
    assert rates["steps"] == 4                              # evaluation: all Nsup steps


def test_exploration_delays_halting():
    m = tiny(halt_max_steps=4, halt_exploration=1.0)
    with torch.no_grad():
        m.q_head.bias.fill_(5.0)
    b = batch(n=256)
    torch.manual_seed(0)
    _, _, carry = supervision.train_step(m, m, supervision.empty_carry(m, b), b)
    assert not carry.halted.any()        # a minimum of >= 2 steps blocks halting at step 1


def test_copy_baseline():
    b = batch()
    base = supervision.copy_baseline(b["inputs"], b["labels"])
    assert base["exact_acc"] == 0
    assert base["token_acc"] == pytest.approx(float((b["inputs"] != 1).float().mean()))


def test_ema_is_the_exponential_average():
    lin = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema = EMA(lin, 0.9)
    with torch.no_grad():
        lin.weight.fill_(2.0)
    ema.update(lin)
    ema.update(lin)
    # 1 -> 0.9 x 1 + 0.1 x 2 = 1.1 -> 0.9 x 1.1 + 0.2 = 1.19
    assert torch.allclose(ema.weights(lin)["weight"], torch.full((1, 2), 1.19))
    assert torch.equal(lin.weight, torch.full((1, 2), 2.0))   # the model keeps its own weights


def test_sampler_visits_every_group_once_per_epoch():
    split = Split(torch.zeros(10, 4), torch.zeros(10, 4), torch.zeros(10), np.array([0, 3, 5, 10]))
    order = epoch_order(split, 0, 0)
    assert sorted(np.searchsorted(split.group_starts, order, side="right") - 1) == [0, 1, 2]
    s = stream(split, 0, 2, 5)     # crosses epochs: the same rows as the epochs laid end to end
    assert np.array_equal(s, np.concatenate([epoch_order(split, 0, e) for e in range(3)])[2:7])


def test_scaling_rule_and_steps():
    t = {"batch_size": 64, "lr": 1e-3, "epochs": 10, "eval_interval": 5, "grad_accum": 1,
         "warmup_steps": 0, "lr_schedule": "constant", "lr_min": 0, "weight_decay": 0, "beta1": 0.9,
         "beta2": 0.95, "grad_clip": None, "precision": "fp32", "ema": None, "checkpoint_every_s": 60,
         "xla_metrics_every": 10}
    s, batch_size = loop_settings(t, 640, 4, "sqrt")
    assert batch_size == 256 and s.lr == pytest.approx(2e-3) and s.steps == 25 and s.eval_every == 13
    assert isinstance(s, Settings)


def test_flops_count_matches_the_forward_matmuls():
    """The analytic count of one recursion against torch's own FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode
    for mixer in ("mlp_t", "attention"):
        m = tiny(mixer=mixer, H_cycles=3, L_cycles=2)
        y, z = m.initial_state(8, torch.device("cpu"))
        with FlopCounterMode(display=False) as fc:
            m.recursion(y, z, torch.randn_like(y))
        flops = flops_per_example(m.cfg)
        # torch's counter skips the CPU attention kernel: 2 x 2 x positions^2 x hidden per block
        scores = 0 if mixer == "mlp_t" else 3 * m.cfg.L_layers * 4 * 16 * 16 * 32
        assert fc.get_total_flops() == 8 * (flops["recursion"] - scores)
        assert flops["forward"] == 3 * flops["recursion"] + flops["heads"]
