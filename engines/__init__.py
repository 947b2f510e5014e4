"""Real engines on loopback for the engine tests and for trying a recipe on them.

`python -m engines fetch flink` fetches an engine's job-server classpath from
Maven Central (engines/<engine>/pom.xml) into `.engines/<engine>/lib`;
`python -m engines up flink` starts Beam's Flink job server on that classpath
(with Flink's runtime embedded, `--flink-master=[local]`) and a Python SDK
worker pool, and waits until both listen; `down` stops them. A build then runs
with `--runner=PortableRunner --job_endpoint=localhost:8099
--environment_type=EXTERNAL --environment_config=localhost:50000`: the Python
code of every stage runs in the worker pool's processes under the engine.
Nothing here is imported by the pipeline.
"""
