"""``from azureml.core import Run``: the compute portal's Run shim. Any other
name of the real package raises NotImplementedError."""

from .run import Run, _unsupported

__all__ = ["Run"]


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(name)
    raise _unsupported(f"azureml.core.{name}")
