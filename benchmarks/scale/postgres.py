"""A throwaway PostgreSQL cluster on a free loopback port, as tests/postgres-lane.sh makes
one: Debian's binaries, trust auth, fsync off, removed when done."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.tiles.procs import free_port


def binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        raise SystemExit("PostgreSQL is not installed: apt-get install postgresql")
    return Path(found[-1]).parent


def _version(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in Path(path).parts[-3].split(".") if p.isdigit())


@contextmanager
def cluster() -> Iterator[str]:
    """A database URL for SQLAlchemy; the cluster is stopped and removed afterwards."""
    bin_dir = binaries()
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="tangthu-scale-pg."))
    run_as: list[str] = []
    if os.getuid() == 0:  # PostgreSQL will not run as root
        owner = "postgres" if _exists("postgres") else "nobody"
        shutil.chown(folder, owner)
        run_as = ["runuser", "-u", owner, "--"]
    data = folder / "data"
    try:
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "tangthu",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=100 -c shared_buffers=256MB"
        )
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-w",
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://tangthu@127.0.0.1:{port}/postgres"
    finally:
        pid_file = data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        if pid and Path(f"/proc/{pid}").exists():  # pg_ctl could not stop it: this run started it
            os.kill(pid, signal.SIGQUIT)
        shutil.rmtree(folder, ignore_errors=True)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True
