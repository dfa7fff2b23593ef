"""Puts the portal's azureml shim (fallback/) at the end of sys.path, after
the run's own site-packages: an environment that has the real azureml
package imports that one. Then runs the sitecustomize this one hides, if any.

Written by the compute portal into each run's lib/ folder.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _portal_fallback():
    here = os.path.dirname(os.path.abspath(__file__))
    fallback = os.path.join(here, "fallback")
    if fallback not in sys.path:
        sys.path.append(fallback)
    others = [p for p in sys.path if p not in (fallback,) and os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # as site.py does for its own sitecustomize
        print(f"Error in sitecustomize ({spec.origin}): {type(exc).__name__}: {exc}", file=sys.stderr)


_portal_fallback()
del _portal_fallback
