"""`banwatch-agent`, the program on every device. The data flow reads in folder order:
sources/ (what the device shows) → detect/ (matcher, verdicts) → act/ (kill, quarantine) →
report/ (build, outbox, spool, ship), run by service/ (the daemon and its helpers). It imports
`banwatch.core` and nothing else of banwatch."""
