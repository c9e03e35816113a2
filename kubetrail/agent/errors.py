"""The one exception family of the agent.

AgentError
  ConfigError   the configuration file is unusable; `problems` lists every one of them
  StateError    the state directory is unusable (locked by another agent, unwritable)
"""

from __future__ import annotations


class AgentError(Exception):
    """Something stops the agent from starting; the message says what to fix."""


class ConfigError(AgentError):
    """The configuration is invalid; each problem names its key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class StateError(AgentError):
    """The state directory cannot be used."""
