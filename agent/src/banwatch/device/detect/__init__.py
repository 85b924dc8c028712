"""Observations → findings → verdicts: which banned app is where, and whether an exemption covers it."""
