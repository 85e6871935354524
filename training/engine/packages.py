"""Which optional ML packages this host can use: one answer for worker routing and the monitoring dashboard."""

from __future__ import annotations

import importlib.metadata
import importlib.util


def package_version(name: str) -> str:
    """Installed version of a distribution, or '' (never imports it: bitsandbytes' import is slow and noisy)."""
    if importlib.util.find_spec(name) is None:
        return ""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def bitsandbytes_version() -> str:
    """'' when 4/8-bit weights are not available here.

    bitsandbytes 0.50 runs 4-bit on CPU as well as on CUDA (docs/STACK-NOTES), so "installed" is the honest
    capability; importing it to find out would cost seconds in every worker start and monitor tick.
    """
    return package_version("bitsandbytes")
