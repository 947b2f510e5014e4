"""Fetching, starting and stopping an engine and its Python worker pool on loopback.

The job server is a JVM on the classpath Maven fetched; the worker pool is Beam's
own `worker_pool_main` in this interpreter, started in a scratch folder so that
a build proves it reads and writes by absolute paths, as a cluster's workers
would. Their pids are kept in `.engines/run/<engine>.json`, so `down` (or a test's
teardown) stops exactly what `up` started.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".engines"
JOB_SERVERS = {"flink": ("org.apache.beam.runners.flink.FlinkJobServerDriver", ["--flink-master=[local]"])}
START_TIMEOUT_S = 120


class EngineError(RuntimeError):
    """An engine cannot be fetched or started; the message says what to install or check."""


@dataclass(frozen=True)
class Running:
    engine: str
    job_port: int
    worker_port: int
    pids: tuple[int, ...]
    log_dir: str

    def build_args(self) -> list[str]:
        """The Beam options that send a build to this engine."""
        return ["--runner=PortableRunner", f"--job_endpoint=localhost:{self.job_port}",
                "--environment_type=EXTERNAL", f"--environment_config=localhost:{self.worker_port}"]


def lib_dir(engine: str) -> Path:
    return CACHE / engine / "lib"


def require(tool: str, what: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise EngineError(f"{tool} not found: the engine tests need {what} (Debian: apt-get install "
                          "openjdk-17-jre-headless maven)")
    return path


def fetch(engine: str) -> Path:
    """The engine's job-server classpath in `.engines/<engine>/lib`, fetched once."""
    target = lib_dir(engine)
    done = target / ".complete"
    if done.exists():
        return target
    mvn = require("mvn", "Maven, to fetch Beam's job-server jars from Maven Central")
    require("java", "Java 17, to run the engine")
    partial = target.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    run = subprocess.run([mvn, "-q", "-B", "-f", str(REPO / "engines" / engine / "pom.xml"),
                          "dependency:copy-dependencies", f"-DoutputDirectory={partial}"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stdout + run.stderr).strip().splitlines()[-3:]
        raise EngineError(f"Maven could not fetch the {engine} job server's jars (Maven Central unreachable?): "
                          + " | ".join(last))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    done.write_text("\n".join(sorted(p.name for p in target.glob("*.jar"))) + "\n")
    return target


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def up(engine: str, job_port: int = 8099, worker_port: int = 50000) -> Running:
    """Starts the engine's job server and a worker pool; returns once both listen."""
    java = require("java", "Java 17, to run the engine")
    classpath = f"{fetch(engine)}/*"
    main_class, engine_args = JOB_SERVERS[engine]
    for port in (job_port, worker_port):
        if listening(port):
            raise EngineError(f"port {port} is taken: stop what listens there (python -m engines down {engine}?)")
    logs = Path(tempfile.mkdtemp(prefix=f"corpusmill-{engine}-"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen([java, "-cp", classpath, main_class, *engine_args, f"--job-port={job_port}",
                               "--artifact-port=0", "--expansion-port=0"],
                              stdout=open(logs / "job-server.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={worker_port}"], cwd=logs, env=env,
                            stdout=open(logs / "worker-pool.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    running = Running(engine, job_port, worker_port, (server.pid, pool.pid), str(logs))
    (CACHE / "run").mkdir(parents=True, exist_ok=True)
    (CACHE / "run" / f"{engine}.json").write_text(json.dumps(asdict(running)))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (listening(job_port) and listening(worker_port)):
        for name, proc in (("job server", server), ("worker pool", pool)):
            if proc.poll() is not None:
                down(engine)
                raise EngineError(f"the {engine} {name} exited with status {proc.returncode}; log in {logs}")
        if time.monotonic() > deadline:
            down(engine)
            raise EngineError(f"the {engine} job server did not listen within {START_TIMEOUT_S} s; log in {logs}")
        time.sleep(0.5)
    return running


def down(engine: str) -> None:
    """Stops what `up` started (each process's whole session: the pool's workers too)."""
    state = CACHE / "run" / f"{engine}.json"
    if not state.exists():
        return
    for pid in json.loads(state.read_text())["pids"]:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    state.unlink()
