"""Server processes on loopback: start, wait for, sample memory of, and always stop."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

HOST = "127.0.0.1"  # every server and every request stays on loopback


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str, bytes]:
    """GET a loopback URL; return status, content type and body (errors included)."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"refusing a non-loopback URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def children_of() -> dict[int, list[int]]:
    """Map each live pid to its child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    tree = children_of()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of one process, in clock ticks; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int, int]:
    """Machine-wide busy, total and steal CPU time so far, in clock ticks."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal, steal


def memory_kb(pid: int) -> tuple[int, int]:
    """RSS and PSS of one process in KiB; zeros once it has gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class Server:
    """One server command run in its own session, so its whole tree can be stopped."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the command with its output in the log file."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The root process id."""
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process.pid

    def alive(self) -> bool:
        """Whether the root process is still running."""
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        """Poll ``url`` until it answers 200, or raise with the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                break
            try:
                if http_get(url, timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise RuntimeError(f"{self.name} did not become ready at {url}\n{tail}")

    def stop(self) -> None:
        """TERM the session and every descendant (some leave the session), then KILL."""
        if self.process is None:
            return
        pids = process_tree(self.pid) if self.alive() else []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            signal_all(self.pid, pids, sig)
            if wait_gone(self.process, pids, 5.0):
                break
        self.process = None


def signal_all(group: int, pids: list[int], sig: signal.Signals) -> None:
    """Send ``sig`` to the process group and to each pid, ignoring those already gone."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(process: subprocess.Popen[bytes], pids: list[int], timeout: float) -> bool:
    """Reap the root and wait until none of ``pids`` exists; return whether they all went."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()
        if not any(Path(f"/proc/{pid}/stat").exists() for pid in pids if pid != process.pid):
            if process.poll() is not None:
                return True
        time.sleep(0.05)
    return False


class Servers:
    """Every server started in this run, stopped on exit, exception, Ctrl-C or SIGTERM."""

    def __init__(self) -> None:
        self.running: list[Server] = []
        self._previous: Any = signal.SIG_DFL

    def __enter__(self) -> Servers:
        self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()
        signal.signal(signal.SIGTERM, self._previous)

    @staticmethod
    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    def start(self, server: Server) -> Server:
        """Start ``server`` and remember it for cleanup."""
        self.running.append(server)
        server.start()
        return server

    def stop(self, server: Server) -> None:
        """Stop one server now."""
        server.stop()
        if server in self.running:
            self.running.remove(server)

    def stop_all(self) -> None:
        """Stop every server still running, newest first."""
        while self.running:
            self.stop(self.running[-1])


class ResourceSampler:
    """Sample a process tree's summed RSS and PSS every ``interval`` s, and CPU use overall.

    Besides the server's own CPU time it records the machine's: on a shared machine the
    busy time that is neither the server's nor wrk's, and hypervisor steal, show noise.
    """

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.peak_processes = 0
        self.samples = 0
        self._ticks: dict[int, int] = {}
        self._start_ticks: dict[int, int] = {}
        self._machine_start = machine_ticks()
        self._machine_end = self._machine_start
        self._children_start = children_cpu_seconds()
        self._children_end = self._children_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ResourceSampler:
        self._machine_start = machine_ticks()
        self._children_start = children_cpu_seconds()
        self._start_ticks = {pid: cpu_ticks(pid) for pid in process_tree(self.root)}
        self._ticks = dict(self._start_ticks)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self._machine_end = machine_ticks()
        self._children_end = children_cpu_seconds()

    def sample(self) -> None:
        """Take one sample of the whole tree."""
        pids = process_tree(self.root)
        sizes = [memory_kb(pid) for pid in pids]
        for pid in pids:
            self._ticks[pid] = max(self._ticks.get(pid, 0), cpu_ticks(pid))
        self.peak_rss_kb = max(self.peak_rss_kb, sum(rss for rss, _ in sizes))
        self.peak_pss_kb = max(self.peak_pss_kb, sum(pss for _, pss in sizes))
        self.peak_processes = max(self.peak_processes, len(pids))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def summary(self) -> dict[str, float]:
        """Peaks in MiB, for the report."""
        return {
            "peak_rss_mb": round(self.peak_rss_kb / 1024, 1),
            "peak_pss_mb": round(self.peak_pss_kb / 1024, 1),
            "processes": self.peak_processes,
            "samples": self.samples,
        }

    def cpu(self) -> dict[str, Any]:
        """Shares of the machine's CPU time during the sampling: server, wrk, others, steal."""
        hz = os.sysconf("SC_CLK_TCK")
        busy = self._machine_end[0] - self._machine_start[0]
        total = max(1, self._machine_end[1] - self._machine_start[1])
        steal = self._machine_end[2] - self._machine_start[2]
        server = sum(self._ticks.values()) - sum(self._start_ticks.values())
        load = round((self._children_end - self._children_start) * hz)
        per_process = sorted(
            (self._ticks[pid] - self._start_ticks.get(pid, 0)) / hz for pid in self._ticks
        )
        return {
            # how evenly the work spread over master and workers, CPU seconds, most busy first
            "per_process_cpu_s": [round(seconds, 1) for seconds in reversed(per_process)],
            "server_pct": round(100 * server / total, 1),
            "wrk_pct": round(100 * load / total, 1),
            "others_pct": round(100 * max(0, busy - server - load) / total, 1),
            "idle_pct": round(100 * (total - busy - steal) / total, 1),
            "steal_pct": round(100 * steal / total, 1),
        }


def children_cpu_seconds() -> float:
    """CPU seconds of this process's reaped children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drop_page_cache() -> str:
    """Try to empty the OS page cache; say whether it worked (containers often refuse)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        return f"failed: {exc.strerror or exc}"
    return "dropped"
