"""tinyscale: the library behind the pipeline's scripts.

The core (config, dist, io, progress, runtime, checkpoint, cli, train, scaling) and a
package per study (robustness, reasoning, ...). Importing the package imports nothing
else: the Snakefile reads tinyscale.config at every start, and must stay cheap.
"""

__version__ = "0.1.0"
