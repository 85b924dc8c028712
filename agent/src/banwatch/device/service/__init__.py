"""The running agent: the daemon loop, its status file and log, the watchdog and the supervisor
for hosts without systemd."""
