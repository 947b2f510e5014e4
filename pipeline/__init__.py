"""The Beam graph: recipe and options, one composite PTransform per stage, the CLI."""
