"""The semi-supervised VAE of seed 004 and its importance-weighted objective.

Generative model: a digit y ~ Concrete(uniform, temperature) (a relaxed one-hot), a style
z ~ N(0, I), and the image x ~ Bernoulli(decoder([y, z])). Encoder: a hidden layer
h = ReLU(W x); q(y | x) = Concrete(logits(h), temperature); q(z | x, y) = N(mu(h, y),
sigma(h, y)). The objective per image, with K importance samples (y_k, z_k) ~ q:

    ELBO_K(x) = log (1/K) sum_k  p(x | y_k, z_k) p(y_k) p(z_k) / (q(y_k | x) q(z_k | x, y_k))

and on a labelled image (y observed, a one-hot) the digit leaves the sampled latents:

    ELBO_K(x, y) = log (1/K) sum_k  p(x | y, z_k) p(y) p(z_k) / q(z_k | x, y),   p(y) = 1/C,

to which the classifier term alpha x log q(y | x) is added (q(y | x): the categorical of the
encoder's digit logits, which is also the prediction). Both bounds are the K = 1 ELBO for K = 1.

The random draws enter as arguments (:class:`Noise`): the model is a pure function of its
weights, data and noise, so several models train together under ``torch.func.vmap`` and a
run's draws come from a generator it owns (resume replays them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Categorical, Normal
from torch.distributions.relaxed_categorical import ExpRelaxedCategorical


@dataclass
class Noise:
    """The draws of one batch: uniforms for the Gumbel noise of the digit (K x B x C) and
    standard normals for the style (K x B x S)."""
    uniform: torch.Tensor
    normal: torch.Tensor

    @staticmethod
    def draw(k: int, batch: int, n_classes: int, style_dim: int, generator: torch.Generator,
             device: torch.device | str = "cpu", models: tuple[int, ...] = ()) -> "Noise":
        """``models`` prepends dimensions (one draw per stacked model)."""
        u = torch.rand(*models, k, batch, n_classes, generator=generator, device=device)
        e = torch.randn(*models, k, batch, style_dim, generator=generator, device=device)
        return Noise(u, e)


class SSVAE(nn.Module):
    def __init__(self, input_dim: int, n_classes: int = 10, style_dim: int = 10, hidden: int = 256,
                 temperature: float = 0.66):
        super().__init__()
        self.n_classes, self.style_dim, self.temperature = n_classes, style_dim, temperature
        self.encoder = nn.Linear(input_dim, hidden)
        self.digit = nn.Linear(hidden, n_classes)
        self.style = nn.Linear(hidden + n_classes, 2 * style_dim)      # mean and log-std
        self.decoder = nn.Sequential(nn.Linear(n_classes + style_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, input_dim))     # Bernoulli logits

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of q(y | x): the prediction is their argmax."""
        return self.digit(F.relu(self.encoder(x)))

    def style_posterior(self, h: torch.Tensor, y: torch.Tensor) -> Normal:
        """q(z | x, y) from the hidden layer ``h`` (... x B x H) and a (relaxed) one-hot ``y``."""
        h = h.expand(*y.shape[:-1], h.shape[-1])
        mean, log_std = self.style(torch.cat([h, y], -1)).chunk(2, -1)
        return Normal(mean, log_std.exp(), validate_args=False)

    def style_mean(self, x: torch.Tensor) -> torch.Tensor:
        """The style latent of ``x`` for the disentanglement scores: the mean of q(z | x, y) at the
        encoder's own most probable digit (what the model says without a label)."""
        h = F.relu(self.encoder(x))
        y = F.one_hot(self.digit(h).argmax(-1), self.n_classes).to(h.dtype)
        return self.style_posterior(h, y).mean

    def forward(self, x: torch.Tensor, noise: Noise, labels: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ELBO_K per image, log q(y | x) per image of the labels, or zeros without labels)."""
        h = F.relu(self.encoder(x))                                # B x H
        logits = self.digit(h)                                     # B x C
        k = noise.uniform.shape[0]
        if labels is None:
            # RelaxedOneHotCategorical is ExpRelaxedCategorical pushed through exp: sampled and
            # scored in log space, which does not underflow near a vertex. The exp's Jacobian is
            # the same for q and p, so it cancels in the weight.
            gumbel = -torch.log(-torch.log(noise.uniform.clamp_min(1e-20)))
            log_y = F.log_softmax((logits + gumbel) / self.temperature, -1)       # K x B x C
            # the temperature in x's dtype: a float32 0.66 would score float64 draws at another one
            temperature = torch.tensor(self.temperature, dtype=x.dtype, device=x.device)
            q_y = ExpRelaxedCategorical(temperature, logits=logits, validate_args=False)
            p_y = ExpRelaxedCategorical(temperature, logits=torch.zeros_like(logits), validate_args=False)
            y = log_y.exp()
            log_ratio_y = p_y.log_prob(log_y) - q_y.log_prob(log_y)                # K x B
            log_q_label = torch.zeros_like(logits[:, 0])
        else:
            y = F.one_hot(labels, self.n_classes).to(x.dtype).expand(k, -1, -1)
            log_ratio_y = torch.full_like(noise.normal[..., 0], -math.log(self.n_classes))
            log_q_label = Categorical(logits=logits, validate_args=False).log_prob(labels)
        q_z = self.style_posterior(h, y)
        z = q_z.mean + q_z.stddev * noise.normal                               # K x B x S
        p_z = Normal(torch.zeros_like(z), torch.ones_like(z), validate_args=False)
        p_x = Bernoulli(logits=self.decoder(torch.cat([y, z], -1)), validate_args=False)
        log_w = (p_x.log_prob(x.expand(k, -1, -1)).sum(-1) + log_ratio_y
                 + p_z.log_prob(z).sum(-1) - q_z.log_prob(z).sum(-1))
        elbo = torch.logsumexp(log_w, 0) - math.log(k)
        return elbo, log_q_label


def objective(elbo: torch.Tensor, log_q_label: torch.Tensor, alpha: float, supervised: bool) -> torch.Tensor:
    """The loss to minimise: -(ELBO + alpha x log q(y | x)) averaged over the batch (the classifier
    term on labelled batches only)."""
    # over at least one image: a rank's share of an epoch's last batch can be empty under DDP
    n = max(elbo.numel(), 1)
    if supervised:
        return -(elbo + alpha * log_q_label).sum() / n
    return -elbo.sum() / n


def build_model(model: dict, input_dim: int, n_classes: int = 10) -> SSVAE:
    """The network of the ssvae.model block."""
    return SSVAE(input_dim, n_classes, model["style_dim"], model["hidden"], model["temperature"])
