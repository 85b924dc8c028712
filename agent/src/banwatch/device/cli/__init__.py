"""`banwatch-agent`'s commands; each command's work is imported only when it runs."""
