# corpusmill: the four commands a user needs. Each one creates the virtual
# environment first if it is missing or older than the pinned dependencies.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
RECIPE  ?= recipes/sample.yaml
OUT     ?= out/sample
ARGS    ?=
STAMP   := $(VENV)/.corpusmill-installed

.PHONY: corpus test inspect verify report bench samples venv browser engines flink-up flink-down spark-up spark-down clean

corpus: $(STAMP)
	$(PY) -m pipeline build --recipe $(RECIPE) --output $(OUT) $(ARGS)

test: $(STAMP) browser engines
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The engine tests' classpaths (Flink and Spark job servers, Spark itself), fetched once
# from Maven Central into .engines/
# (needs Java 17 and Maven; a clear error line otherwise).
engines: $(STAMP)
	$(PY) -m engines fetch flink
	$(PY) -m engines fetch spark

# A Flink job server (Flink's runtime embedded) and a Python worker pool on loopback:
#   make flink-up && make corpus ARGS="--runner=PortableRunner --job_endpoint=localhost:8099 \
#     --environment_type=EXTERNAL --environment_config=localhost:50000" && make flink-down
flink-up: engines
	$(PY) -m engines up flink

flink-down:
	$(PY) -m engines down flink

# A standalone Spark 3.5 cluster (a master, two one-core workers), Beam's Spark job server
# and a Python worker pool on loopback; builds take the same ARGS as on Flink.
spark-up: engines
	$(PY) -m engines up spark

spark-down:
	$(PY) -m engines down spark

inspect: $(STAMP)
	$(PY) -m manifests inspect $(OUT)

verify: $(STAMP)
	$(PY) -m manifests verify $(OUT)

report: $(STAMP)
	$(PY) -m manifests report $(OUT)

# The report's browser test renders the page in headless Chromium: Debian's package,
# installed here where apt is available (as root, or through sudo). Elsewhere the
# test is skipped unless CORPUSMILL_REQUIRE_BROWSER is set, as CI sets it.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	    || command -v google-chrome >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	else echo "no apt-get: install Chromium to run the report's browser test"; fi

bench: $(STAMP) engines
	$(PY) -m pip install -q -c constraints.txt -e ".[bench]"
	# litdata without torchvision: its 0.28 wheel does not load with torch 2.13; tokens need none of it
	$(PY) -m pip install -q --no-deps litdata==0.2.76 lightning-utilities==0.15.3 obstore==0.12.1
	$(PY) -m bench.encode
	$(PY) -m bench.extract
	$(PY) -m bench.filters
	$(PY) -m bench.classifier
	$(PY) -m bench.paragraphs
	$(PY) -m bench.dedup quality
	$(PY) -m bench.dedup speed
	$(PY) -m bench.scale
	$(PY) -m bench.loader
	$(PY) -m bench.versus --readme
	$(PY) -m bench.engines

# Regenerates the bundled sample shards from installed material (needs
# Debian's python3.11-doc for the HTML and reST; see sources/samples/make_samples.py).
samples: $(STAMP)
	$(PY) -m sources.samples.make_samples

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

clean:
	rm -rf out
