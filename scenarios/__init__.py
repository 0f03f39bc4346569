"""Cases: scenario files (TOML) and the gymnasium environments built from them.

Importing this package registers every built-in scenario with gymnasium (``igtwin/<Name>-v0``).
"""

from ._case import Case, build_case, load_case_anatomy
from ._config import Scenario, ScenarioError, load_scenario, parse_scenario
from ._registry import builtin_scenarios, get_scenario, register_envs, resolve_scenario
from ._replay import replay_episode

__all__ = [
    "Case",
    "InterventionEnv",
    "InterventionVectorEnv",
    "Scenario",
    "ScenarioError",
    "build_case",
    "builtin_scenarios",
    "get_scenario",
    "load_case_anatomy",
    "load_scenario",
    "parse_scenario",
    "register_envs",
    "replay_episode",
    "resolve_scenario",
]

register_envs()


def __getattr__(name: str):
    if name == "InterventionEnv":
        from ._env import InterventionEnv

        return InterventionEnv
    if name == "InterventionVectorEnv":
        from ._vector_env import InterventionVectorEnv

        return InterventionVectorEnv
    raise AttributeError(f"module 'igtwin.scenarios' has no attribute {name!r}")
