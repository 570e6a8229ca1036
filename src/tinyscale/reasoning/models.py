"""The reasoning models as a config choice: TRM, HRM or a plain transformer.

All three run under the same deep-supervision loop, data, loss and metrics
(:mod:`tinyscale.reasoning.supervision`) through one interface:
``initial_state(batch, device, dtype) -> (a, b)`` and
``forward(a, b, inputs, puzzle_ids) -> (a, b detached, logits (B, seq, vocab), q (B, 2))``
with ``q[:, 0]`` the halt logit and ``q[:, 1]`` the continue logit. ``act``
picks how supervision halts and what trains the Q head:

- ``halt`` (TRM's): halt when q_halt > 0, trained by BCE against "the answer is exact";
- ``q_learning`` (HRM's): halt when q_halt > q_continue, q_continue trained
  against the next step's Q values (one extra forward pass);
- ``fixed``: every sample runs all ``halt_max_steps`` steps, no Q loss.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from torch import nn

from . import hrm, transformer, trm

MODEL_NAMES = {"trm": "TRM", "hrm": "HRM", "transformer": "Transformer"}
ACTS = ("halt", "q_learning", "fixed")
MIXERS = ("mlp_t", "attention")


@dataclass(frozen=True)
class ModelConfig:
    seq_len: int                  # board cells (81 for 9x9)
    vocab_size: int               # PAD, blank, digits
    hidden: int = 512
    expansion: float = 4.0        # SwiGLU width = expansion x hidden (x 2/3, rounded up to 256)
    L_layers: int = 2             # TRM: its one network; HRM: the L module; transformer: all blocks
    H_cycles: int = 3             # TRM: T recursions; HRM: H updates per supervision step
    L_cycles: int = 6             # TRM: n latent updates; HRM: L updates per H update
    mixer: str = "mlp_t"          # mlp_t | attention
    heads: int = 8
    puzzle_emb_len: int = 0       # prefix positions of the puzzle embedding (0 = none)
    puzzle_emb_width: int = 0     # its width (0 = puzzle_emb_len x hidden)
    puzzle_ids: int = 1           # distinct puzzle identifiers (Sudoku: one, id 0)
    halt_max_steps: int = 16      # Nsup
    halt_exploration: float = 0.1
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    arch: str = "trm"             # trm | hrm | transformer
    act: str = "halt"             # halt | q_learning | fixed
    H_layers: int = 4             # HRM: the H module's blocks

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def positions(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    def check(self) -> None:
        """Unknown choices fail here, by name, rather than deep inside a model."""
        for key, value, known in (("arch", self.arch, tuple(MODEL_NAMES)), ("act", self.act, ACTS),
                                  ("mixer", self.mixer, MIXERS)):
            if value not in known:
                raise ValueError(f"{key} {value!r}: one of {', '.join(known)}")


_ARCHS = {"trm": trm.TRM, "hrm": hrm.HRM, "transformer": transformer.Transformer}
_FLOPS = {"trm": trm.flops, "hrm": hrm.flops, "transformer": transformer.flops}


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model ``cfg.arch`` names (freshly initialised from torch's generator)."""
    cfg.check()
    return _ARCHS[cfg.arch](cfg)


def flops_per_example(cfg: ModelConfig) -> dict[str, float]:
    """Multiply-adds x 2 of one supervision step for one example, per arch.

    Every arch returns at least "forward" (the step, forward only) and "train"
    (the step's forward, the backward through its gradient-carrying part, 2 x
    that part's forward, and for act q_learning the extra forward of the Q
    target). Counted from the matmuls (:func:`layers.block_flops`); norms,
    activations and the loss are left out (well under 1%).
    """
    cfg.check()
    out = _FLOPS[cfg.arch](cfg)
    if cfg.act == "q_learning":
        out["train"] += out["forward"]
    return out
