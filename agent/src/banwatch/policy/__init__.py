"""The policy: what people edit (a source directory) and what a device enforces."""

from banwatch.policy.model import App, Exemption, MatchRules, PolicySource
from banwatch.policy.source import load_policy_source

__all__ = ["App", "Exemption", "MatchRules", "PolicySource", "load_policy_source"]
