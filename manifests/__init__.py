"""The manifest: build, validate, read, verify and inspect a corpus's manifest.json."""
