"""Backends: one module per runtime, each with everything about it (build, load, run)."""

from .base import BACKENDS, Runner, open_runner

__all__ = ["BACKENDS", "Runner", "open_runner"]
