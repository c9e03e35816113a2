"""The recommended policies, shipped as commented YAML files next to this module."""

from __future__ import annotations

from importlib.resources import files
from typing import Final

PROFILES: Final = ("minimal", "balanced", "forensic")


def profile_text(name: str) -> str:
    """The commented policy of profile `name` (one of PROFILES)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: one of {', '.join(PROFILES)}")
    return (files("kubetrail.policy") / "profiles" / f"{name}.yaml").read_text(encoding="utf-8")
