"""``vm_size``: a name from the portal's size catalogue (``GET sizes/``), or a
cloud size name matched to the smallest catalogue size that holds it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ...exceptions import ComputeTargetException, NotFoundError, PortalError

if TYPE_CHECKING:
    from ..workspace import Workspace

# Cloud sizes the old snippets use: (CPU cores, memory GB, GPUs).
CLOUD_SIZES: dict[str, tuple[float, float, int]] = {
    "standard_d1_v2": (1, 3.5, 0),
    "standard_d2_v2": (2, 7, 0),
    "standard_d3_v2": (4, 14, 0),
    "standard_d4_v2": (8, 28, 0),
    "standard_d5_v2": (16, 56, 0),
    "standard_ds2_v2": (2, 7, 0),
    "standard_ds3_v2": (4, 14, 0),
    "standard_d2s_v3": (2, 8, 0),
    "standard_d4s_v3": (4, 16, 0),
    "standard_nc6": (6, 56, 1),
    "standard_nc12": (12, 112, 2),
    "standard_nc24": (24, 224, 4),
    "standard_nc6s_v3": (6, 112, 1),
}


def catalogue(workspace: Workspace) -> list[dict[str, Any]] | None:
    """The portal's sizes; None when the portal has no catalogue."""
    try:
        result = workspace._client.get(workspace.api("sizes/"))
    except NotFoundError:
        return None
    except PortalError as exc:
        raise ComputeTargetException(exc.message, status=exc.status) from exc
    return result if isinstance(result, list) else result.get("results", [])


def size_fields(size: dict[str, Any]) -> dict[str, Any]:
    """The form fields a catalogue size stands for."""
    if size.get("fields"):
        return dict(size["fields"])
    return {"cpus": size.get("cpu_cores"), "memory_gb": size.get("memory_gb"), "gpus": size.get("gpus", 0)}


def _offers(size: dict[str, Any], kind: str, engine: str) -> bool:
    kinds = size.get("kinds") or ([size["kind"]] if size.get("kind") else None)
    return (kinds is None or kind in kinds) and size.get("engine") in (None, engine)


def resolve(workspace: Workspace, kind: str, engine: str, vm_size: str) -> dict[str, Any]:
    """The form fields for ``vm_size`` on ``engine``."""
    sizes = catalogue(workspace)
    wanted = CLOUD_SIZES.get(vm_size.lower())
    if sizes is not None:
        sizes = [s for s in sizes if _offers(s, kind, engine)]
    if not sizes:  # no catalogue for this kind here: the size as numbers, the portal decides
        if wanted is None:
            raise ComputeTargetException(
                f"No size {vm_size!r} for {kind} targets on {engine}: give cpu_cores and memory_gb instead."
            )
        return {"cpus": wanted[0], "memory_gb": wanted[1], "gpus": wanted[2]}
    for size in sizes:
        if str(size.get("name", "")).lower() == vm_size.lower():
            return size_fields(size)
    names = ", ".join(sorted({str(s.get("name")) for s in sizes})) or "none"
    if wanted is None:
        raise ComputeTargetException(f"No size {vm_size!r} on {engine}; its sizes: {names}.")
    cores, memory, gpus = wanted
    fitting = [
        s
        for s in sizes
        if s.get("cpu_cores", 0) >= cores and s.get("memory_gb", 0) >= memory and s.get("gpus", 0) >= gpus
    ]
    if fitting:
        best = min(fitting, key=lambda s: (s.get("gpus", 0), s.get("cpu_cores", 0), s.get("memory_gb", 0)))
    else:
        # A small engine: the largest size it has with the GPUs asked for, said out loud.
        same_gpus = [s for s in sizes if s.get("gpus", 0) >= gpus] or sizes
        if not same_gpus:
            raise ComputeTargetException(f"{engine} offers no sizes.")
        best = max(same_gpus, key=lambda s: (s.get("cpu_cores", 0), s.get("memory_gb", 0)))
        print(
            f"{vm_size} ({cores:g} cores, {memory:g} GB, {gpus} GPUs) is larger than any size on {engine}: "
            f"using {best.get('name')} ({best.get('cpu_cores')} cores, {best.get('memory_gb')} GB).",
            file=sys.stderr,
        )
    return size_fields(best)
