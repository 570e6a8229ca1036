"""What the analysis scripts share (one epoch's curvature, and its timing runs): their common
options, and the run they set up: the data, the checkpoint's net on this rank's device, the
probes, the images scored (the active classes' training images) cut into batches, and this
rank's share of the batches (whole batches, so a value is computed alike on any number of ranks).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from .. import cli, dist, runtime
from .measure import Probe, curvature_batch
from .models import build_model
from .training import StudyData, load_study_data, load_weights


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=cli.json_arg, required=True, help="the curvature.data block (JSON)")
    p.add_argument("--model", type=cli.json_arg, required=True, help="the curvature.model block (JSON)")
    p.add_argument("--analysis", type=cli.json_arg, required=True, help="the curvature.analysis block (JSON)")
    p.add_argument("--classes", type=int, required=True,
                   help="how many classes are scored: the class order's first ones (those the checkpoint trained on)")
    p.add_argument("--split", required=True, help="results/curvature/data.npz")
    p.add_argument("--order", required=True, help="results/curvature/class_order.npy")
    p.add_argument("--checkpoint", required=True)


@dataclass
class Run:
    data: StudyData
    net: torch.nn.Module
    world: dist.World
    probe: Probe
    active: list[int]             # the scored classes' ids
    index: np.ndarray             # the scored images (positions in the training set), in order
    batches: list[np.ndarray]     # index cut into batches of analysis.batch_size
    mine: list[int]               # this rank's batches

    def compute(self, b: int) -> dict[str, np.ndarray]:
        """curvature, directional_eig and loss of batch ``b``."""
        idx, device = self.batches[b], self.world.device
        out = curvature_batch(self.net, self.data.images[idx].to(device),
                              torch.as_tensor(self.data.labels[idx], device=device), torch.as_tensor(idx),
                              torch.as_tensor(self.active, device=device), self.probe)
        return {k: v.numpy() for k, v in out.items()}


def prepare(a: argparse.Namespace) -> Run:
    """Every input read and checked, then the distributed runtime started (torchrun, srun or alone)."""
    data = load_study_data(a.data, a.seed, a.split, a.order)
    net = load_weights(a.checkpoint, build_model(a.model, data.images.shape[1], data.n_classes))
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    an = a.analysis
    probe = Probe(h=an["h"], niter=an["niter"], seed=an["probe_seed"], form=an["form"],
                  seed_compatible=an["seed_compatible"])
    active = data.class_order[:a.classes].tolist()
    index = data.of_classes(data.train_index, np.asarray(active))
    batches = [index[s:s + an["batch_size"]] for s in range(0, len(index), an["batch_size"])]
    return Run(data, net.to(world.device).eval(), world, probe, active, index, batches,
               world.shard(range(len(batches))))
