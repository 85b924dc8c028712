"""What the agent does about a violation: report it, kill the process, or quarantine its executable."""
