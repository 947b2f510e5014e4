"""For Beam's `--setup_file=./setup.py`: Dataflow, Flink and Spark workers install the
project from the sdist Beam builds with it. Everything is configured in pyproject.toml."""
from setuptools import setup

setup()
