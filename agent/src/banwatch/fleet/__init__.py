"""The fleet store and its views, on the control node.

The pipeline reads in file order: `records` (a verified report → one row), `store` (the SQLite
fleet store), `ingest` (drop box → store, refused files, archive), `states` (a host's compliance
state), `views` (status, exemptions, rollout), `html` (the static report). `defaults` says
where everything lives, `progress` keeps a terminal informed during long ingests.
"""
