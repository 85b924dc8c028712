"""The policy: what people edit (a source directory, `source`) and what a device enforces
(`model`, built by `effective`). Nothing is imported here, so a device that only verifies and
installs a signed policy never loads the source loader."""
