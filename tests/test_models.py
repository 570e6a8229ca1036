"""HRM and the plain transformer beside TRM: shapes and parameter counts, the one-step
gradient, the ACT modes' losses against hand computations, FLOPs, loading saved models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tinyscale.reasoning import supervision
from tinyscale.reasoning.hrm import HRM
from tinyscale.reasoning.models import ModelConfig, build_model, flops_per_example
from tinyscale.reasoning.training import load_model, save_model
from tinyscale.reasoning.transformer import Transformer
from tinyscale.reasoning.trm import TRM

# the HRM paper's Sudoku model
HRM_PAPER = dict(seq_len=81, vocab_size=11, hidden=512, heads=8, expansion=4, H_layers=4, L_layers=4,
                 H_cycles=2, L_cycles=2, mixer="attention", puzzle_emb_len=1, arch="hrm")
CPU = torch.device("cpu")


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(**{**dict(seq_len=16, vocab_size=6, hidden=32, H_cycles=2, L_cycles=2,
                                             H_layers=2, L_layers=2, halt_max_steps=4, heads=4,
                                             halt_exploration=0.0, arch="hrm"), **kw}))


def batch(n=8, seq=16, vocab=6, seed=1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, vocab, (n, seq), generator=g)
    inputs = torch.where(torch.rand(n, seq, generator=g) < 0.5, labels, 1)
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": torch.zeros(n, dtype=torch.long)}


def bce(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.logsigmoid(logit) + (1 - target) * F.logsigmoid(-logit))


def lm_and_exact(logits, labels) -> tuple[torch.Tensor, torch.Tensor]:
    mask = labels != 0
    lm = supervision.stablemax_cross_entropy(logits, labels).sum(-1) / mask.sum(-1)
    exact = ((logits.argmax(-1) == labels) | ~mask).all(-1)
    return lm, exact.float()


# ---------------------------------------------------------------- shapes, counts

@pytest.mark.parametrize("arch, mixer", [("hrm", "mlp_t"), ("hrm", "attention"), ("transformer", "attention")])
@pytest.mark.parametrize("puzzle_emb_len", [0, 2])
def test_shapes(arch, mixer, puzzle_emb_len):
    m = tiny(arch=arch, mixer=mixer, puzzle_emb_len=puzzle_emb_len, puzzle_emb_width=40 if puzzle_emb_len else 0)
    b = batch()
    a0, b0 = m.initial_state(8, CPU)
    positions = 0 if arch == "transformer" else 16 + puzzle_emb_len     # the transformer carries nothing
    assert a0.shape == b0.shape == (8, positions, 32)
    a, c, logits, q = m(a0, b0, b["inputs"], b["puzzle_identifiers"])
    assert logits.shape == (8, 16, 6) and q.shape == (8, 2)
    assert a.shape == a0.shape and not a.requires_grad and not c.requires_grad
    assert torch.allclose(q, torch.full_like(q, -5.0))      # Q head starts at its bias
    if arch == "transformer":
        assert torch.equal(a, a0) and torch.equal(c, b0)


def test_build_model_dispatches_and_rejects_unknown_choices():
    assert [type(tiny(arch=a)) for a in ("trm", "hrm", "transformer")] == [TRM, HRM, Transformer]
    for key, value in (("arch", "rnn"), ("act", "ponder"), ("mixer", "conv")):
        with pytest.raises(ValueError, match=key):
            tiny(**{key: value})


def test_hrm_paper_sudoku_model_has_about_27m_parameters():
    n = params(build_model(ModelConfig(**HRM_PAPER)))
    # 8 blocks x (4 x 512^2 attention + 3 x 512 x 1536 SwiGLU) + embeddings and heads
    assert n == 27_275_778
    assert 26e6 < n < 28e6


def test_transformer_of_hrms_depth_has_hrms_parameters():
    """Hidden 512, eight attention blocks (HRM's 4 + 4), one puzzle position: the same weights
    as HRM, all of them applied once."""
    n = params(build_model(ModelConfig(**{**HRM_PAPER, "arch": "transformer", "L_layers": 8})))
    assert n == 27_275_778


# ---------------------------------------------------------------- HRM's one-step gradient

def test_hrm_one_step_gradient_reaches_only_the_last_L_and_H_updates():
    m = tiny(H_cycles=3, L_cycles=2)
    calls = {"H": [], "L": []}
    m.H.blocks[0].register_forward_hook(lambda mod, i, o: calls["H"].append(o.requires_grad))
    m.L.blocks[0].register_forward_hook(lambda mod, i, o: calls["L"].append(o.requires_grad))
    b = batch()
    m(*m.initial_state(8, CPU), b["inputs"], b["puzzle_identifiers"])
    assert calls["L"] == [False] * 5 + [True]      # H_cycles x L_cycles L updates
    assert calls["H"] == [False] * 2 + [True]      # one every L_cycles


# ---------------------------------------------------------------- ACT modes

def test_q_continue_target_by_hand():
    next_q = torch.tensor([[0.2, 1.0], [0.2, 1.0], [-0.5, -2.0]])
    is_last = torch.tensor([False, True, False])
    expected = torch.sigmoid(torch.tensor([1.0, 0.2, -0.5]))
    assert torch.allclose(supervision.q_continue_target(next_q, is_last), expected)


def test_q_learning_loss_matches_a_hand_computation():
    """Two steps of Nsup 2: the first's target is the next step's better Q, the last's its q_halt."""
    m = tiny(act="q_learning", halt_max_steps=2)
    with torch.no_grad():
        torch.nn.init.normal_(m.q_head.weight, std=0.1)
        m.q_head.bias.copy_(torch.tensor([-5.0, 5.0]))        # continue: nobody halts early
    b = batch()
    inputs, pids = b["inputs"], b["puzzle_identifiers"]
    with torch.no_grad():                                   # half the samples exactly right
        guess = m(*m.initial_state(8, CPU), inputs, pids)[2].argmax(-1)
        b["labels"][:4] = guess[:4]
    labels = b["labels"]

    carry = supervision.empty_carry(m, b)
    state = m.initial_state(8, CPU)
    for step in (1, 2):
        loss, _, carry = supervision.train_step(m, m, carry, b)
        with torch.no_grad():
            a, c, logits, q = m(*state, inputs, pids)
            next_q = m(a, c, inputs, pids)[3]
            lm, exact = lm_and_exact(logits, labels)
            if step == 1:
                target = torch.sigmoid(torch.maximum(next_q[:, 0], next_q[:, 1]))
                assert exact[:4].all() and not carry.halted.any()
            else:
                target = torch.sigmoid(next_q[:, 0])
                assert carry.halted.all()
            expected = (lm + 0.5 * (bce(q[:, 0], exact) + bce(q[:, 1], target))).mean()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
        state = (a, c)


def test_q_learning_halts_when_q_halt_beats_q_continue():
    m = tiny(act="q_learning")
    with torch.no_grad():
        m.q_head.bias.copy_(torch.tensor([1.0, 0.5]))
    b = batch()
    _, _, carry = supervision.train_step(m, m, supervision.empty_carry(m, b), b)
    assert carry.halted.all() and (carry.steps == 1).all()


def test_fixed_runs_every_sample_nsup_steps_on_the_lm_loss_alone():
    m = tiny(act="fixed", halt_max_steps=3, halt_exploration=0.5)
    with torch.no_grad():
        m.q_head.bias.fill_(5.0)          # would halt at once under act halt
    b = batch()
    carry = supervision.empty_carry(m, b)
    state = m.initial_state(8, CPU)
    for step in (1, 2, 3):
        loss, _, carry = supervision.train_step(m, m, carry, b)
        assert (carry.steps == step).all() and bool(carry.halted.all()) == (step == 3)
        with torch.no_grad():
            *state, logits, _ = m(*state, b["inputs"], b["puzzle_identifiers"])
        assert loss.item() == pytest.approx(lm_and_exact(logits, b["labels"])[0].mean().item(), rel=1e-6)
    loss.backward()                       # the Q head has a (zero) gradient: DDP waits for it
    assert torch.equal(m.q_head.bias.grad, torch.zeros(2))


def test_transformer_trains_with_an_empty_carry():
    m = tiny(arch="transformer", halt_max_steps=1, mixer="attention")
    carry = supervision.empty_carry(m, batch())
    for seed in (1, 2):
        loss, sums, carry = supervision.train_step(m, m, carry, batch(seed=seed))
        loss.backward()
        assert carry.halted.all() and carry.y.shape == (8, 0, 32)
        assert sums[supervision.METRICS.index("count")] == 8
    assert torch.equal(carry.inputs, batch(seed=2)["inputs"])


# ---------------------------------------------------------------- evaluation's halting step

@pytest.mark.parametrize("act, bias, steps", [("halt", (5.0, 5.0), 1), ("halt", (-5.0, -5.0), 4),
                                              ("q_learning", (5.0, -5.0), 1), ("q_learning", (-5.0, -5.0), 4),
                                              ("fixed", (5.0, 5.0), 4)])
def test_evaluation_steps_is_where_the_rule_would_halt(act, bias, steps):
    m = tiny(act=act)
    with torch.no_grad():
        m.q_head.bias.copy_(torch.tensor(bias))
    assert supervision.rates(supervision.evaluate_batch(m, batch())[0])["steps"] == steps


def test_evaluation_steps_is_the_first_firing_step():
    m = tiny(act="q_learning")
    with torch.no_grad():
        torch.nn.init.normal_(m.q_head.weight, std=1.0)
        m.q_head.bias.zero_()
    b = batch(n=32)
    state, fired = m.initial_state(32, CPU), []
    with torch.no_grad():
        for _ in range(4):
            *state, _, q = m(*state, b["inputs"], b["puzzle_identifiers"])
            fired.append(q[:, 0] > q[:, 1])
    first = torch.full((32,), 4)
    for step in range(4, 0, -1):         # backwards: the earliest firing step is written last
        first = torch.where(fired[step - 1], step, first)
    assert 1 < first.float().mean() < 4                  # a mix: the test means something
    got = supervision.rates(supervision.evaluate_batch(m, b)[0])["steps"]
    assert got == pytest.approx(first.float().mean().item())


# ---------------------------------------------------------------- FLOPs

@pytest.mark.parametrize("arch", ["trm", "hrm", "transformer"])
@pytest.mark.parametrize("act", ["halt", "q_learning", "fixed"])
def test_flops_of_a_training_step_match_torchs_counter(arch, act):
    """A whole training step (forward, the Q target's forward, backward) against torch's FLOP
    counter, for the mlp_t mixer (torch's counter skips the CPU attention kernel)."""
    from torch.utils.flop_counter import FlopCounterMode
    m = tiny(arch=arch, act=act, mixer="mlp_t", H_cycles=2, L_cycles=3, L_layers=3, puzzle_emb_len=2)
    b = batch()
    carry = supervision.empty_carry(m, b)
    with FlopCounterMode(display=False) as fc:
        loss, _, _ = supervision.train_step(m, m, carry, b)
        loss.backward()
    flops = flops_per_example(m.cfg)
    assert fc.get_total_flops() == 8 * flops["train"]
    halt = flops_per_example(ModelConfig(**{**m.cfg.as_dict(), "act": "halt"}))
    assert flops["train"] == halt["train"] + (flops["forward"] if act == "q_learning" else 0)


# ---------------------------------------------------------------- saved models

def test_saved_models_load_as_their_arch_and_old_ones_as_trm(tmp_path):
    b = batch()
    for arch in ("hrm", "transformer"):
        m = tiny(arch=arch, act="q_learning").eval()
        save_model(tmp_path / f"{arch}.pt", m.cfg, m.state_dict(), {"seed": 0})
        loaded, meta = load_model(tmp_path / f"{arch}.pt")
        assert type(loaded) is type(m) and loaded.cfg == m.cfg and meta == {"seed": 0}
        state = m.initial_state(8, CPU)
        assert torch.equal(m(*state, b["inputs"], b["puzzle_identifiers"])[2],
                           loaded(*state, b["inputs"], b["puzzle_identifiers"])[2])
    old = tiny(arch="trm")
    config = {k: v for k, v in old.cfg.as_dict().items() if k not in ("arch", "act", "H_layers")}
    save_model(tmp_path / "old.pt", ModelConfig.from_dict(config), old.state_dict(), {})
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    payload["config"] = config                      # as a model saved before the archs were
    torch.save(payload, tmp_path / "old.pt")
    loaded, _ = load_model(tmp_path / "old.pt")
    assert type(loaded) is TRM and loaded.cfg.act == "halt"
