"""Pure rules: plain functions of a Document or its keys, no Beam import.

Each document rule returns the (possibly new) Document to keep it, or a short
reason string to drop it; the Beam wiring prefixes the stage and counts it.
"""
