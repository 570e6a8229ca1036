"""Adapt auto_LiRPA 0.3 (2022) to current torch and numpy, before it is imported.

auto_LiRPA 0.3 is the only release on PyPI. It reaches three internals that
were renamed since; each adaptation below restores the old name on top of
the new one, so auto_LiRPA's own code runs unchanged:

1. ``numpy.lib.arraysetops.isin``: the module is gone in numpy 2 (``np.isin``).
2. ``torch.onnx.symbolic_helper._set_opset_version``: the opset now lives on
   ``torch.onnx._internal.torchscript_exporter._globals.GLOBALS``.
3. ``torch._C.Node.__getitem__``: attribute access by name was removed; the
   typed accessor is found by kind (``node.f("value")``, ``node.i(...)``...).

Call :func:`apply` (idempotent) and then import auto_LiRPA, or just use
:func:`import_auto_lirpa`, which also keeps the import quiet: auto_LiRPA
decorates functions with ``torch.jit.script``, which current torch deprecates
with a warning in every log that bounds (see :func:`import_auto_lirpa`).
"""
from __future__ import annotations

import sys
import types
import warnings

# the one warning the import is kept from showing (torch's text, 2.9 and later)
JIT_SCRIPT_DEPRECATED = r"`torch\.jit\.script` is (deprecated|not supported)"

_applied = False


def _numpy_arraysetops() -> None:
    import numpy as np

    try:
        import numpy.lib.arraysetops  # noqa: F401  (still present: nothing to do)
    except ImportError:
        shim = types.ModuleType("numpy.lib.arraysetops")
        shim.isin = np.isin
        sys.modules["numpy.lib.arraysetops"] = shim


def _onnx_opset_setter() -> None:
    import torch.onnx.symbolic_helper as helper

    if hasattr(helper, "_set_opset_version"):
        return
    from torch.onnx._internal.torchscript_exporter._globals import GLOBALS

    def _set_opset_version(opset_version: int) -> None:
        GLOBALS.export_onnx_opset_version = opset_version

    helper._set_opset_version = _set_opset_version


def _node_getitem() -> None:
    import torch

    if hasattr(torch._C.Node, "__getitem__"):
        return

    def __getitem__(node, name: str):
        # kindOf gives the accessor's name: "f", "i", "s", "t", "fs", "is", ...
        return getattr(node, node.kindOf(name))(name)

    torch._C.Node.__getitem__ = __getitem__


def apply() -> None:
    """Install the three adaptations (safe to call many times)."""
    global _applied
    if _applied:
        return
    _numpy_arraysetops()
    _onnx_opset_setter()
    _node_getitem()
    _applied = True


def import_auto_lirpa():
    """Apply the adaptations and return the imported ``auto_LiRPA`` module.

    The import shows every warning it raises but torch's ``torch.jit.script``
    deprecation (matched by message, :data:`JIT_SCRIPT_DEPRECATED`). A filter
    set before the import would not do: auto_LiRPA's import itself calls
    ``warnings.simplefilter("once")``, which goes in front of any filter. So
    the import runs inside ``catch_warnings`` (which also undoes that
    process-wide change when it ends), its warnings are recorded, and all but
    that one are shown again under the process's own filters.
    """
    apply()
    if "auto_LiRPA" in sys.modules:
        return sys.modules["auto_LiRPA"]
    warnings.filterwarnings("ignore", message=JIT_SCRIPT_DEPRECATED, category=DeprecationWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import auto_LiRPA
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return auto_LiRPA
