"""Procedural lung anatomy (work in progress)."""

GENERATOR_VERSION = "0"


def generate_lung(*args, seed: int, **kwargs):
    """Not implemented yet."""
    raise NotImplementedError("generate_lung is being written")
