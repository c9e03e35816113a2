"""The kubetrail agent: tail audit log files, buffer on disk, ship to the intake, lose nothing.

load_config(path) -> AgentConfig     the YAML configuration, validated (ConfigError)
Agent(cfg).run() -> int              run until SIGTERM/SIGINT (install_signal_handlers)
status(cfg) -> dict                  per-file acknowledged offsets and lag
error_event(...)                     the event sent in place of an unsendable line
"""

from kubetrail.agent.config import AgentConfig, LogFile, load_config, parse_config
from kubetrail.agent.errors import AgentError, ConfigError, StateError
from kubetrail.agent.lines import error_event
from kubetrail.agent.run import Agent, run_agent, status

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentError",
    "ConfigError",
    "LogFile",
    "StateError",
    "error_event",
    "load_config",
    "parse_config",
    "run_agent",
    "status",
]
