"""What every side of banwatch must agree on: the policy model and payload, the report schema
and envelope, signing, errors, bounded input (YAML, JSON, files), globs, host names, atomic
writes and times. It imports nothing of the device, the control node or the fleet."""
