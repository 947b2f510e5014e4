"""Bundled sample shards for the default recipe, and the script that makes them."""
