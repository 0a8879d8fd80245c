"""Agent trajectories: the canonical step shape, message-list conversion, command analysis and
sandbox leases. Parsers in ``parsers/`` (openai_chat, swe_agent, openhands, inspect_ai, ...) use
these pieces; ``forensics.shell`` does the command understanding."""

from .steps import Step, StepWriter, canonical_action, parse_time

__all__ = ["Step", "StepWriter", "canonical_action", "parse_time"]
