"""The control node's commands."""
