"""Reports out: built from a scan, held in the outbox, sealed into the crash-safe spool, shipped
to the collector on a schedule."""
