"""Procedural liver anatomy (work in progress)."""

GENERATOR_VERSION = "0"


def generate_liver(*args, seed: int, **kwargs):
    """Not implemented yet."""
    raise NotImplementedError("generate_liver is being written")
