"""Command-line entry points: `banwatch` (control node, admins) and `banwatch-agent` (device)."""
