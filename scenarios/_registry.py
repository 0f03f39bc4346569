"""The built-in scenarios and their gymnasium ids.

Importing :mod:`igtwin.scenarios` registers every built-in scenario with gymnasium under its
``igtwin/<Name>-v<N>`` id, each with a native batched ``vector_entry_point``::

    import gymnasium as gym
    import igtwin.scenarios  # registers the ids
    env = gym.make("igtwin/ArchLCCA-v0", obs_mode="state")
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from ._config import Scenario, ScenarioError, load_scenario

__all__ = ["builtin_scenarios", "get_scenario", "register_envs", "resolve_scenario"]

_BUILTIN_DIR = resources.files("igtwin.scenarios") / "builtin"


def builtin_scenarios() -> dict[str, Scenario]:
    """All built-in scenarios by name, loaded from the packaged TOML files."""
    out = {}
    for entry in sorted(_BUILTIN_DIR.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            sc = load_scenario(Path(str(entry)))
            out[sc.name] = sc
    return out


def get_scenario(name: str) -> Scenario:
    """A built-in scenario by name or env id; unknown names get the list and a "did you mean"."""
    scenarios = builtin_scenarios()
    if name in scenarios:
        return scenarios[name]
    by_id = {sc.env_id: sc for sc in scenarios.values() if sc.env_id}
    if name in by_id:
        return by_id[name]
    known = list(scenarios) + list(by_id)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {close}?" if close else ""
    raise ScenarioError(f"unknown scenario {name!r}; built-in: {list(scenarios)}.{hint}")


def resolve_scenario(spec: str | Path | Scenario) -> Scenario:
    """A :class:`Scenario` from a built-in name, an env id, a TOML path, or a Scenario."""
    if isinstance(spec, Scenario):
        return spec
    p = Path(spec)
    if p.suffix == ".toml":
        if not p.is_file():
            raise ScenarioError(f"scenario file {p} does not exist")
        return load_scenario(p)
    return get_scenario(str(spec))


def register_envs() -> list[str]:
    """Register every built-in scenario with gymnasium; returns the ids (idempotent)."""
    import gymnasium as gym

    ids = []
    for sc in builtin_scenarios().values():
        if not sc.env_id:
            continue
        if sc.env_id not in gym.registry:
            gym.register(
                id=sc.env_id,
                entry_point="igtwin.scenarios._env:InterventionEnv",
                vector_entry_point="igtwin.scenarios._vector_env:InterventionVectorEnv",
                max_episode_steps=sc.limits.max_steps,
                kwargs={"scenario": sc.name},
            )
        ids.append(sc.env_id)
    return ids
