"""Run wrk over a list of paths and parse its ``--latency`` report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .procs import HOST

WRK = "/usr/bin/wrk"
HERE = Path(__file__).resolve().parent
CYCLE_LUA = HERE / "cycle.lua"
CYCLE_STATUS_LUA = HERE / "cycle_status.lua"  # also counts statuses; slower per response
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
SIZES = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}


@dataclass(frozen=True, slots=True)
class Load:
    """The load wrk puts on a server."""

    seconds: float = 20.0
    threads: int = 2
    connections: int = 8
    timeout_s: float = 10.0
    count_statuses: bool = False


@dataclass(slots=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    requests_per_s: float
    latency_ms: dict[str, float]  # "50", "75", "90", "99"
    bytes_read: int
    non_2xx: int  # wrk counts responses with status >= 400 here
    socket_errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)  # only with count_statuses
    raw: str = ""

    @property
    def bytes_per_response(self) -> int:
        """Mean bytes per response, headers included."""
        return round(self.bytes_read / self.requests) if self.requests else 0

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict, with the raw report kept for later reading."""
        data = asdict(self)
        data["bytes_per_response"] = self.bytes_per_response
        return data


def run(base: str, paths: Path, load: Load) -> WrkResult:
    """Cycle wrk through ``paths`` against ``base`` (a loopback URL) for ``load.seconds``."""
    if not base.startswith(f"http://{HOST}:"):
        raise ValueError(f"refusing a non-loopback target: {base}")
    script = CYCLE_STATUS_LUA if load.count_statuses else CYCLE_LUA
    argv = [
        WRK,
        *(f"-t{load.threads}", f"-c{load.connections}", f"-d{load.seconds:g}s"),
        *(f"--timeout={load.timeout_s:g}s", "--latency", "-s", str(script), base),
        *("--", str(paths), str(load.threads)),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=load.seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)


def duration_ms(text: str) -> float:
    """``"1.23ms"`` → 1.23; wrk prints us, ms, s, m or h."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * UNITS[match[2]]


def size_bytes(text: str) -> int:
    """``"12.5MB"`` → bytes; wrk prints B, KB, MB, GB or TB in powers of 1024."""
    match = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", text)
    if not match:
        raise ValueError(f"not a wrk size: {text!r}")
    return round(float(match[1]) * SIZES[match[2]])


def parse(text: str) -> WrkResult:
    """Parse wrk's report as printed with ``--latency``."""
    total = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not total or not rate:
        raise ValueError(f"cannot parse wrk output:\n{text}")
    latency = {
        pct: duration_ms(value)
        for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", text, flags=re.MULTILINE)
    }
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    statuses = re.search(r"^Statuses: (.*)$", text, flags=re.MULTILINE)
    names = ("connect", "read", "write", "timeout")
    return WrkResult(
        requests=int(total[1]),
        seconds=duration_ms(total[2]) / 1e3,
        requests_per_s=float(rate[1]),
        latency_ms=latency,
        bytes_read=size_bytes(total[3]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors={n: int(errors[i + 1]) if errors else 0 for i, n in enumerate(names)},
        statuses={k: int(v) for k, v in (p.split("=") for p in statuses[1].split())}
        if statuses
        else {},
        raw=text,
    )
