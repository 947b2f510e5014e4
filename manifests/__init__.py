"""The on-disk corpus contract: the shard format, the split rule, lineage maps and the
manifest (schema, reading, building), with verify, inspect, diff, locate and report.
Imports neither the pipeline, the sources nor Beam: a trainer or an inspector needs none."""
