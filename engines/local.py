"""Fetching, starting and stopping an engine and its Python worker pool on loopback.

- flink: Beam's Flink job server with Flink's runtime embedded (`[local]`).
- spark: a standalone Spark cluster, one master and two workers of one core each
  (each its own JVM; executors are JVMs the workers start), and Beam's Spark job
  server submitting to it.

Every JVM runs on the classpath Maven fetched; the worker pool is Beam's own
`worker_pool_main` in this interpreter, started in a scratch folder so that a
build proves it reads and writes by absolute paths, as a cluster's workers
would. Pids are kept in `.engines/run/<engine>.json`, so `down` (or a test's
teardown) stops exactly what `up` started, each process's whole session.
"""
from __future__ import annotations

import hashlib
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
JOB_SERVERS = {"flink": "org.apache.beam.runners.flink.FlinkJobServerDriver",
               "spark": "org.apache.beam.runners.spark.SparkJobServerDriver"}
ENGINES = tuple(JOB_SERVERS)
START_TIMEOUT_S = 120
SPARK_WORKERS = 2
SPARK_TASK_MAX_FAILURES = 8
FLINK_RESTART_ATTEMPTS = 20
KEEP_LOGS_ENV = "CORPUSMILL_KEEP_ENGINE_LOGS"
# What Spark's launcher gives every JVM on Java 17 (JavaModuleOptions); run directly, they must be said
JAVA17_OPENS = ["-XX:+IgnoreUnrecognizedVMOptions", "-Djdk.reflect.useDirectMethodHandle=false"] + [
    f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
        "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.util",
        "java.util.concurrent", "java.util.concurrent.atomic", "jdk.internal.ref", "sun.nio.ch", "sun.nio.cs",
        "sun.security.action", "sun.util.calendar")]


class EngineError(RuntimeError):
    """An engine cannot be fetched or started; the message says what to install or check."""


@dataclass(frozen=True)
class Running:
    engine: str
    job_port: int
    worker_port: int
    pids: tuple[int, ...]
    log_dir: str
    master: str = ""                 # spark: the standalone master's URL
    boot: str = ""                   # spark: the command its executors start Python harnesses with
    master_ui: int = 0               # spark: the master's web UI (its state as JSON at /json/); flink: REST API
    workers: tuple[int, ...] = ()    # spark: the worker JVMs' pids

    def build_args(self) -> list[str]:
        """The Beam options that send a build to this engine: Flink's one JVM asks the
        worker pool for harnesses (EXTERNAL); Spark's executors, several JVMs numbering
        their workers alike, start their own (PROCESS, engines/boot.py)."""
        endpoint = ["--runner=PortableRunner", f"--job_endpoint=localhost:{self.job_port}"]
        if self.boot:
            return [*endpoint, "--environment_type=PROCESS", f'--environment_config={{"command": "{self.boot}"}}']
        return [*endpoint, "--environment_type=EXTERNAL", f"--environment_config=localhost:{self.worker_port}"]


def lib_dir(engine: str) -> Path:
    return CACHE / engine / "lib"


def require(tool: str, what: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise EngineError(f"{tool} not found: the engine tests need {what} (Debian: apt-get install "
                          "openjdk-17-jre-headless maven)")
    return path


def fetch(engine: str) -> Path:
    """The engine's job-server classpath in `.engines/<engine>/lib`, fetched again only
    when its pom.xml changes (`.complete` starts with the pom's hash)."""
    target = lib_dir(engine)
    done = target / ".complete"
    pom = REPO / "engines" / engine / "pom.xml"
    pom_hash = hashlib.sha256(pom.read_bytes()).hexdigest()
    if done.exists() and done.read_text().startswith(pom_hash):
        return target
    mvn = require("mvn", "Maven, to fetch Beam's job-server jars from Maven Central")
    require("java", "Java 17, to run the engine")
    partial = target.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    run = subprocess.run([mvn, "-q", "-B", "-f", str(pom),
                          "dependency:copy-dependencies", f"-DoutputDirectory={partial}"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stdout + run.stderr).strip().splitlines()[-3:]
        raise EngineError(f"Maven could not fetch the {engine} job server's jars (Maven Central unreachable?): "
                          + " | ".join(last))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    done.write_text("\n".join([pom_hash, *sorted(p.name for p in target.glob("*.jar"))]) + "\n")
    return target


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], log: Path, **kwargs) -> subprocess.Popen:
    """A process in a session of its own (so `down` stops its children too), logging to `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def wait_until(ready, processes: dict[str, subprocess.Popen], engine: str, logs: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        for name, proc in processes.items():
            if proc.poll() is not None:
                down(engine)
                raise EngineError(f"the {engine} {name} exited with status {proc.returncode}; logs in {logs}")
        if time.monotonic() > deadline:
            down(engine)
            raise EngineError(f"the {engine} engine did not start within {START_TIMEOUT_S} s; logs in {logs}")
        time.sleep(0.5)


def scratch(logs: Path) -> tuple[list[str], dict]:
    """The JVM flag and environment that keep every engine process's temporary files
    (Spark's block manager and job-jar copies, Flink's RPC jar, lz4's native library)
    inside `logs`, so that `down` removes them with it: left in /tmp they came to 3 GB
    per Spark test run."""
    folder = logs / "tmp"
    folder.mkdir(exist_ok=True)
    return [f"-Djava.io.tmpdir={folder}"], {"SPARK_LOCAL_DIRS": str(folder), "TMPDIR": str(folder)}


def spark_cluster(java: str, classpath: str, logs: Path, workers: int) -> tuple[str, int, dict, dict]:
    """A standalone master and `workers` workers of one core each; returns the master URL,
    its web UI port, the processes, and the environment the job server needs. The workers build their
    executors' command from SPARK_HOME, which here holds only `jars/`, the fetched
    classpath."""
    home = CACHE / "spark" / "home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "jars").exists():
        (home / "jars").symlink_to(lib_dir("spark"))
    tmp_flag, tmp_env = scratch(logs)
    env = {**os.environ, **tmp_env, "SPARK_HOME": str(home), "SPARK_SCALA_VERSION": "2.12",
           "SPARK_LOCAL_IP": "127.0.0.1", "JAVA_HOME": str(Path(os.path.realpath(java)).parent.parent)}
    port, ui = free_port(), free_port()
    jvm = [java, *JAVA17_OPENS, *tmp_flag, "-Xmx512m", "-cp", classpath]
    processes = {"master": start([*jvm, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                  "--port", str(port), "--webui-port", str(ui)], logs / "master.log", env=env)}
    master = f"spark://127.0.0.1:{port}"
    wait_until(lambda: listening(port), processes, "spark", logs)
    for i in range(workers):
        processes[f"worker-{i}"] = start(
            [*jvm, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1", "--memory", "3g",
             "--work-dir", str(logs / f"worker-{i}"), "--webui-port", str(free_port()), master],
            logs / f"worker-{i}.log", env=env)
    return master, ui, processes, env


def flink_conf(logs: Path, rest_port: int) -> Path:
    """Flink's configuration for the embedded cluster: a failed task restarts its region up
    to FLINK_RESTART_ATTEMPTS times (Flink's default without checkpoints is no restart),
    and its REST API (job and task metrics, while a job runs) listens on `rest_port`."""
    folder = logs / "flink-conf"
    folder.mkdir(exist_ok=True)
    (folder / "flink-conf.yaml").write_text(
        "restart-strategy.type: fixed-delay\n"
        f"restart-strategy.fixed-delay.attempts: {FLINK_RESTART_ATTEMPTS}\n"
        "restart-strategy.fixed-delay.delay: 1 s\n"
        f"rest.port: {rest_port}\nrest.bind-port: {rest_port}\nrest.address: 127.0.0.1\n")
    return folder


def spark_driver_conf(engine: str, logs: Path) -> list[str]:
    """The Spark driver's settings (a SparkConf reads `spark.*` system properties): a failed
    task is retried up to SPARK_TASK_MAX_FAILURES times, as on a cluster (local mode would
    not retry), and the event log keeps every task's metrics (shuffle bytes) for bench/."""
    if engine != "spark":
        return []
    events = logs / "events"
    events.mkdir(exist_ok=True)
    return [f"-Dspark.task.maxFailures={SPARK_TASK_MAX_FAILURES}", "-Dspark.eventLog.enabled=true",
            f"-Dspark.eventLog.dir=file://{events}",
            # executors are started by the workers, not here: they get the scratch folder this way
            f"-Dspark.executor.extraJavaOptions=-Djava.io.tmpdir={logs / 'tmp'}"]


def up(engine: str, job_port: int = 8099, worker_port: int = 50000, workers: int = SPARK_WORKERS) -> Running:
    """Starts the engine, its job server and a worker pool; returns once all listen (and,
    for Spark, once its `workers` workers have registered)."""
    java = require("java", "Java 17, to run the engine")
    classpath = f"{fetch(engine)}/*"
    for port in (job_port, worker_port):
        if listening(port):
            raise EngineError(f"port {port} is taken: stop what listens there (python -m engines down {engine}?)")
    logs = Path(tempfile.mkdtemp(prefix=f"corpusmill-{engine}-"))
    tmp_flag, tmp_env = scratch(logs)
    processes, master, master_ui, env = {}, "", 0, {**os.environ, **tmp_env}
    (CACHE / "run").mkdir(parents=True, exist_ok=True)
    state = CACHE / "run" / f"{engine}.json"
    if engine == "spark":
        master, master_ui, processes, env = spark_cluster(java, classpath, logs, workers)
        engine_args = [f"--spark-master-url={master}"]
        state.write_text(json.dumps({"pids": [p.pid for p in processes.values()]}))   # stoppable from here on
    else:
        master_ui = free_port()
        engine_args = ["--flink-master=[local]", f"--flink-conf-dir={flink_conf(logs, master_ui)}"]
    processes["job server"] = start([java, *JAVA17_OPENS, *tmp_flag, *spark_driver_conf(engine, logs), "-cp", classpath,
                                     JOB_SERVERS[engine], *engine_args,
                                     f"--job-port={job_port}", "--artifact-port=0", "--expansion-port=0"],
                                    logs / "job-server.log", env=env)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    processes["worker pool"] = start([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                                      f"--service_port={worker_port}"], logs / "worker-pool.log", cwd=logs,
                                     env={**os.environ, **tmp_env, "PATH": path})
    boot = ""
    if engine == "spark":
        boot = str(CACHE / "run" / f"{engine}-boot.sh")
        Path(boot).write_text(f'#!/bin/sh\nexec "{sys.executable}" "{REPO / "engines" / "boot.py"}" "$@" '
                              f'2>>"{logs / "harness.log"}"\n')
        os.chmod(boot, 0o755)
    running = Running(engine, job_port, worker_port, tuple(p.pid for p in processes.values()), str(logs), master,
                      boot, master_ui, tuple(p.pid for name, p in processes.items() if name.startswith("worker-")))
    state.write_text(json.dumps(asdict(running)))
    wait_until(lambda: listening(job_port) and listening(worker_port) and spark_workers_ready(running),
               processes, engine, logs)
    return running


def spark_workers_ready(running: Running) -> bool:
    """Every worker has registered with the master (the master's log says so)."""
    if running.engine != "spark":
        return True
    log = Path(running.log_dir, "master.log")
    return log.exists() and log.read_text(errors="replace").count("Registering worker") >= len(running.workers)


def down(engine: str) -> None:
    """Stops what `up` started: each process's whole session, and every process working
    in its log folder (Spark's executors and their Python harnesses, which the workers
    start in sessions of their own); then removes that folder, with the engine's
    temporary files, unless KEEP_LOGS_ENV is set (to read the logs of a failed run)."""
    state = CACHE / "run" / f"{engine}.json"
    if not state.exists():
        return
    recorded = json.loads(state.read_text())
    for pid in recorded["pids"]:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    log_dir = recorded.get("log_dir")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            inside = log_dir and os.readlink(proc / "cwd").startswith(log_dir)
        except OSError:
            continue
        if inside:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
    state.unlink()
    if log_dir and not os.environ.get(KEEP_LOGS_ENV):
        shutil.rmtree(log_dir, ignore_errors=True)
