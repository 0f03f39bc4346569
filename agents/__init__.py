"""Whoever acts: the scripted expert, random and trained policies, the runners and the CLI."""

from ._expert import ExpertAgent, ExpertConfig
from ._policies import PolicyAgent, RandomAgent, make_agent
from ._runner import EpisodeResult, run_episode, run_episodes

__all__ = [
    "EpisodeResult",
    "ExpertAgent",
    "ExpertConfig",
    "PolicyAgent",
    "RandomAgent",
    "make_agent",
    "run_episode",
    "run_episodes",
]
