"""The fleet lab: many isolated endpoints on one machine, each a set of Linux namespaces
around its own OpenSSH server, for rehearsals, tests, benchmarks and the demo.

Kept import-light: `banwatch_lab.endpoint` and `banwatch_lab.spawn` run inside every
endpoint and must start fast.
"""
