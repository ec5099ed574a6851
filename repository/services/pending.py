"""What an interrupted ingest leaves behind, and how the next one removes it.

Before an ingest stores anything it records each key it is about to write as pending,
with its owner (host and process id). A process killed mid-ingest leaves those records,
and its staging folder; the next ingest (or ``tangthu cleanup``) removes the objects of
owners that are dead, and their folders.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from ..extensions import db
from ..models import PendingObject, utcnow
from ..storage import Storage

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=24)


def owner() -> str:
    """This process, as the owner of the keys it is about to write."""
    return f"{socket.gethostname()}:{os.getpid()}"


def remove_partial_writes(storage: Storage, keys: Iterable[str]) -> None:
    """A process killed while writing a file leaves its temporary twin beside the key:
    the folders of a dead ingest's keys are that ingest's alone, so any there go too."""
    root = getattr(storage, "root", None)
    if root is None:  # object stores show an upload only once it is whole
        return
    for folder in {(Path(root) / key).parent for key in keys}:
        for partial in folder.glob(".tmp-*"):
            partial.unlink(missing_ok=True)


def remove_objects(storage: Storage, keys: Iterable[str]) -> None:
    remaining = list(keys)
    for key in remaining:
        try:
            storage.delete(key)
        except Exception:  # keep cleaning; the pending rows let a later run retry
            log.exception("could not remove %s after a failed ingest", key)
            return
    db.session.execute(db.delete(PendingObject).where(PendingObject.key.in_(remaining)))
    db.session.commit()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(owner: str, age: timedelta) -> bool:
    """Whether the process that wrote a pending record can no longer finish it."""
    host, _, pid = owner.rpartition(":")
    if age > STALE_AFTER:
        return True  # also covers a recycled process id
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def staging_folder(staging_dir: Path, purpose: str) -> tempfile.TemporaryDirectory[str]:
    """A private staging folder whose name carries our pid, so a dead one can be found."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=staging_dir, prefix=f"{purpose}-{os.getpid()}-")


def recover_interrupted(storage: Storage, staging_dir: Path) -> int:
    """Remove objects and staging folders left by ingests whose process died."""
    now = utcnow()
    pending = db.session.execute(db.select(PendingObject)).scalars().all()
    stale = [p.key for p in pending if is_dead(p.owner, now - p.created_at)]
    if stale:
        log.warning("removing %d objects left by an interrupted ingest", len(stale))
        remove_partial_writes(storage, stale)
        remove_objects(storage, stale)
    if staging_dir.is_dir():
        for folder in staging_dir.glob("*-*-*"):
            pid = folder.name.split("-")[1]
            age = time.time() - folder.stat().st_mtime
            if not (pid.isdigit() and pid_alive(int(pid))) or age > STALE_AFTER.total_seconds():
                shutil.rmtree(folder, ignore_errors=True)
    return len(stale)
