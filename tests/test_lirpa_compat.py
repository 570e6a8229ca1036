"""The three adaptations that let auto_LiRPA 0.3 run on current torch and numpy."""
from __future__ import annotations

import sys

import numpy as np
import torch

from tinyscale.robustness import lirpa_compat


def test_apply_restores_the_three_old_names():
    lirpa_compat.apply()
    import numpy.lib.arraysetops as shim
    assert shim.isin(np.array([1, 2, 3]), [2]).tolist() == [False, True, False]

    from torch.onnx import symbolic_helper
    from torch.onnx._internal.torchscript_exporter._globals import GLOBALS
    before = GLOBALS.export_onnx_opset_version
    try:
        symbolic_helper._set_opset_version(12)
        assert GLOBALS.export_onnx_opset_version == 12
    finally:
        GLOBALS.export_onnx_opset_version = before

    graph = torch.jit.trace(lambda x: x * 2.5 + 1, torch.ones(2)).graph
    consts = [n for n in graph.nodes() if n.kind() == "prim::Constant" and n.hasAttribute("value")]
    values = {n["value"].item() if isinstance(n["value"], torch.Tensor) else n["value"] for n in consts}
    assert 2.5 in values


def test_apply_is_idempotent_and_auto_lirpa_imports():
    lirpa_compat.apply()
    lirpa_compat.apply()
    module = lirpa_compat.import_auto_lirpa()
    assert "auto_LiRPA" in sys.modules and hasattr(module, "BoundedModule")


def test_bounds_run_through_the_adapted_library():
    from auto_LiRPA import BoundedModule, BoundedTensor
    from auto_LiRPA.perturbations import PerturbationLpNorm
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x = torch.rand(5, 3)
    bounded = BoundedModule(net, torch.zeros(1, 3), verbose=False)
    bx = BoundedTensor(x, PerturbationLpNorm(norm=float("inf"), eps=0.1))
    lb, ub = bounded.compute_bounds(x=(bx,), method="CROWN")
    out = net(x)
    assert (lb <= out + 1e-5).all() and (ub >= out - 1e-5).all()
