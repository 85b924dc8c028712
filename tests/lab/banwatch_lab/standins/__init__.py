"""Local HTTPS stand-ins for the device managers' APIs that banwatch pushes to.

They answer the slice of each API the push uses as the vendor documents it, and check every
request body against the vendor's own published schema, so the push is tested against the
schema rather than against what banwatch believes. Test and demo tooling only.
"""
