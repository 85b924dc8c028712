"""`banwatch fleet`'s commands."""
