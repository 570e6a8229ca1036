"""tinyscale: the library behind the pipeline's scripts."""
from .checkpoint import load_checkpoint

__all__ = ["load_checkpoint"]
__version__ = "0.1.0"
