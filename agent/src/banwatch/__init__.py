"""banwatch: keep banned applications off a fleet of managed devices."""

__version__ = "0.1.0"
