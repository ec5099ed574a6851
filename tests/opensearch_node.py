"""A throwaway OpenSearch 2.x node from Maven Central, for the OpenSearch lane and benchmarks.

No OpenSearch installs from PyPI, npm or Debian, and no distribution is kept in this
repository. Maven Central serves the server (``org.opensearch:opensearch``) and each
module as a plain jar, so:

1. **fetch**: ``mvn dependency:copy-dependencies`` on ``tests/opensearch/pom.xml`` copies
   the server, its modules (transport-netty4-client, analysis-common, lang-painless,
   mapper-extras, reindex) and their libraries into ``.cache/opensearch/`` (git ignores
   it; Maven's own download cache is ``.cache/opensearch/m2``), and ``javac`` compiles
   ``tests/opensearch/TangthuNode.java`` beside them. Done once per change of either file.
2. **start**: ``java -Xmx512m … TangthuNode``: one node on two free loopback ports (HTTP
   and transport), single-node discovery, no security plugin, data in a temporary folder;
   then wait until the cluster is green.
3. **stop**: SIGTERM, then SIGKILL after 20 s, and the folder is removed. The node also
   stops by itself when the process that started it ends, or after ``max_seconds``.

    .venv/bin/python -m tests.opensearch_node -- COMMAND …  # with TANGTHU_OPENSEARCH_URL set
    .venv/bin/python -m tests.opensearch_node --fetch-only  # only fill the cache
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "tests" / "opensearch"
POM = SOURCES / "pom.xml"
MAIN = SOURCES / "TangthuNode.java"
CACHE = ROOT / ".cache" / "opensearch"
HEAP = "512m"
FETCH_SECONDS = 900
START_SECONDS = 120
STOP_SECONDS = 20


def version() -> str:
    """The OpenSearch version the pom asks for."""
    found = re.search(r"<opensearch\.version>([^<]+)</opensearch\.version>", POM.read_text())
    if not found:
        raise RuntimeError(f"no <opensearch.version> in {POM}")
    return found.group(1)


def java_home() -> Path:
    """A JDK for OpenSearch 2.x (Java 11 to 21): OPENSEARCH_JAVA_HOME, as OpenSearch's own
    scripts read it, else Debian's Java 17, else JAVA_HOME, else the javac on PATH."""
    debian = sorted(str(path) for path in Path("/usr/lib/jvm").glob("java-17-openjdk-*"))
    candidates = [os.environ.get("OPENSEARCH_JAVA_HOME", ""), *debian]
    candidates.append(os.environ.get("JAVA_HOME", ""))
    for candidate in candidates:
        if candidate and (Path(candidate) / "bin" / "javac").exists():
            return Path(candidate)
    javac = shutil.which("javac")
    if javac:
        return Path(javac).resolve().parents[1]
    raise RuntimeError("no JDK found: install openjdk-17-jdk-headless (and maven)")


@dataclass(frozen=True)
class Build:
    """The fetched jars and the compiled starter, in a folder named after what made them."""

    folder: Path

    @property
    def classpath(self) -> str:
        return f"{self.folder / 'lib'}/*{os.pathsep}{self.folder / 'classes'}"

    @property
    def ready(self) -> bool:
        return (self.folder / "ready").exists()


def build() -> Build:
    key = hashlib.sha256(POM.read_bytes() + MAIN.read_bytes()).hexdigest()[:12]
    return Build(CACHE / f"node-{version()}-{key}")


def fetch(quiet: bool = False) -> Build:
    """The node's jars and starter, fetched and compiled unless the cache has them."""
    made = build()
    if made.ready:
        return made
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two lanes at once fetch once
        if made.ready:
            return made
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("mvn is not installed: apt-get install maven")
        home = java_home()
        env = {**os.environ, "JAVA_HOME": str(home)}
        started = time.monotonic()
        if not quiet:
            where = made.folder.relative_to(ROOT)
            print(f"fetching OpenSearch {version()} from Maven Central into {where} …", flush=True)
        partial = made.folder.with_name(made.folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        steps = [
            [
                mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM),
                f"-Dmaven.repo.local={CACHE / 'm2'}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={partial / 'lib'}",
                "-DincludeScope=runtime",
            ],
            [
                str(home / "bin" / "javac"), "-nowarn", "-encoding", "UTF-8",
                "-d", str(partial / "classes"),
                "-cp", f"{partial / 'lib'}/*", str(MAIN),
            ],
        ]  # fmt: skip
        for step in steps:
            done = subprocess.run(
                step, env=env, timeout=FETCH_SECONDS, capture_output=True, text=True
            )
            if done.returncode:
                output = (done.stdout + done.stderr)[-4000:]
                raise RuntimeError(f"{Path(step[0]).name} failed ({done.returncode}):\n{output}")
        (partial / "ready").write_text(f"{time.monotonic() - started:.1f} s\n")
        for old in CACHE.glob("node-*"):  # an earlier version or starter: its jars stay in m2
            if old != partial:
                shutil.rmtree(old, ignore_errors=True)
        partial.rename(made.folder)
        if not quiet:
            print(f"fetched and compiled in {time.monotonic() - started:.1f} s", flush=True)
    return made


def free_ports(count: int) -> list[int]:
    import socket

    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def health(url: str, timeout: float = 2.0) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(
            f"{url}/_cluster/health?wait_for_status=green&timeout=1s", timeout=timeout
        ) as answer:
            found: dict[str, object] = json.load(answer)
            return found
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class Node:
    url: str
    version: str
    process: subprocess.Popen[bytes]
    home: Path
    started_seconds: float

    @property
    def log(self) -> Path:
        return self.home / "node.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (the node closes its indices), SIGKILL if it takes too long; no folder left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_SECONDS)
        shutil.rmtree(self.home, ignore_errors=True)


def start(made: Build, heap: str = HEAP, max_seconds: int = 3600, quick: bool = False) -> Node:
    """One node on free loopback ports, green, or an error with the end of its log.

    ``quick``: the JIT's first tier only, for tests: the node is green in half the CPU time
    (4.4 CPU-s rather than 9.2 here), but searches run slower, so not for measuring."""
    home = Path(tempfile.mkdtemp(prefix="tangthu-opensearch-"))
    http, transport = free_ports(2)
    java = java_home() / "bin" / "java"
    command = [
        str(java),
        f"-Xms{heap}", f"-Xmx{heap}",
        "-XX:+UseG1GC", "-XX:MaxDirectMemorySize=256m", "-Xss1m", "-XX:-UsePerfData",
        *(["-XX:TieredStopAtLevel=1"] if quick else []),
        "-Djava.io.tmpdir=" + str(home), "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8",
        "-Dlog4j2.formatMsgNoLookups=true", "-Dlog4j2.disable.jmx=true",
        "-Dlog4j.shutdownHookEnabled=false",
        "-Dio.netty.noUnsafe=true", "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0", "-Dio.netty.allocator.numDirectArenas=0",
        "-cp", made.classpath, "TangthuNode",
        str(home), str(http), str(transport), str(os.getpid()), str(max_seconds),
    ]  # fmt: skip
    began = time.monotonic()
    with open(home / "node.log", "wb") as log:
        process = subprocess.Popen(
            command, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    node = Node(f"http://127.0.0.1:{http}", version(), process, home, 0.0)
    try:
        deadline = began + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the OpenSearch node exited ({process.returncode}) before it was ready:\n"
                    + node.log_tail()
                )
            found = health(node.url)
            if found and found.get("status") == "green":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the OpenSearch node was not green within {START_SECONDS} s:\n"
                    + node.log_tail()
                )
            time.sleep(0.25)
        # One node holds every copy there is: new indices green, not yellow for want of a
        # replica. A cluster setting, read when an index is made (as a node setting, ignored).
        settings = json.dumps({"persistent": {"cluster.default_number_of_replicas": 0}})
        change = urllib.request.Request(
            f"{node.url}/_cluster/settings",
            data=settings.encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(change, timeout=30) as answer:
            answer.read()
    except BaseException:
        node.stop()
        raise
    node.started_seconds = time.monotonic() - began
    return node


@contextlib.contextmanager
def running(
    heap: str = HEAP, max_seconds: int = 3600, quiet: bool = False, quick: bool = False
) -> Iterator[Node]:
    """Fetch if needed, start, yield the node, and stop it whatever happens."""
    made = fetch(quiet=quiet)
    node = start(made, heap=heap, max_seconds=max_seconds, quick=quick)
    try:
        yield node
    finally:
        node.stop()


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through running(), which stops the node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heap", default=HEAP, help="the JVM heap (-Xms and -Xmx), 512m")
    parser.add_argument(
        "--timeout", type=int, default=1800, help="seconds COMMAND may run, then it is stopped"
    )
    parser.add_argument("--fetch-only", action="store_true", help="fill the cache and exit")
    parser.add_argument(
        "--quick", action="store_true", help="the JIT's first tier only: for tests, not timings"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND …")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if args.fetch_only:
        fetch()
        return 0
    if not command:
        parser.error("give a COMMAND after --, or --fetch-only")
    limit = args.timeout + START_SECONDS
    with running(heap=args.heap, max_seconds=limit, quick=args.quick) as node:
        jit = ", first JIT tier only" if args.quick else ""
        print(
            f"OpenSearch {node.version} (Maven Central artifacts, heap {args.heap}{jit})"
            f" on {node.url}: green in {node.started_seconds:.1f} s",
            flush=True,
        )
        env = {**os.environ, "TANGTHU_OPENSEARCH_URL": node.url}
        child = subprocess.Popen(command, env=env)
        try:
            status = child.wait(args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{command[0]} ran past {args.timeout} s: stopped", flush=True)
            status = 124
        finally:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        if status:  # the node's last words, before its folder goes
            print(f"the end of the node's log:\n{node.log_tail(30)}", flush=True)
        return status


if __name__ == "__main__":
    sys.exit(main())
