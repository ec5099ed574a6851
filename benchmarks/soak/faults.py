"""Faults: a worker killed under load, an ingest killed half-way, a read-only database.

    .venv/bin/python benchmarks/soak/faults.py [--only worker,ingest,readonly]

(a) worker: the image server with 2 workers (gunicorn with deploy/gunicorn_image.py, then
    granian through deploy/granian_image.sh) under tile load from 8 threads; after 5 s the
    busiest worker gets SIGKILL and the load goes on for 10 s. Passes when the master lives,
    a new worker replaces the dead one, no more requests fail than were in flight (at most
    the concurrency) and every failure ends within 1 s of the kill.
(b) ingest: `tangthu ingest` of 12 generated 4000×3000 JPEG pages is SIGKILLed three times
    (after its first pyramid, half-way, one page before the end). The first two are followed
    by `tangthu cleanup`, the last by the next full ingest, which cleans up on its own.
    Each time: no PendingObject row, every object under masters/ and pyramids/ belongs to an
    Image row, no staging folder; the full ingest afterwards succeeds.
(c) readonly: the repository under gunicorn (as root, without CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH and CAP_FOWNER, so file modes bind it as they bind any user)
    while its SQLite file is chmod 0444 and its folder 0555 (no journal can be made), its
    workers replaced after the change (modes bind a file when it is opened, and workers keep
    their connections): reads must work; a curator saving an item's record and the CLI must
    fail clearly; after the modes are restored nothing has changed and the next writes
    succeed.

Writes benchmarks/soak/faults-last-run.json and prints a summary table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.soak import common  # noqa: E402
from benchmarks.tiles.procs import Server, Servers, cpu_ticks  # noqa: E402

CONCURRENCY = 8
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


# ---------------------------------------------------------------------------------------
# (a) a worker killed under load


def tile_urls(items: list[common.ItemRef], base: str) -> list[str]:
    """Every 256-px tile of every scale factor of the open images, on ``base``."""
    urls = []
    for item in items:
        for image in item.images if item.open else []:
            path = image.service.split("/iiif/", 1)[1]
            for scale in image.scale_factors:
                step = image.tile * scale
                for y in range(0, image.height, step):
                    for x in range(0, image.width, step):
                        w, h = min(step, image.width - x), min(step, image.height - y)
                        size = f"{-(-w // scale)},{-(-h // scale)}"
                        urls.append(f"{base}/iiif/{path}/{x},{y},{w},{h}/{size}/0/default.jpg")
    return urls


def kill_a_worker(
    servers: Servers, kind: str, env: dict[str, str], port: int, urls: list[str], work: Path
) -> dict[str, Any]:
    """Tile load, SIGKILL of the busiest worker, and what the clients saw."""
    server = common.start_image_server(
        servers, kind, env, port, 2, work / f"image-{kind}.log", recycle=False
    )
    master = server.pid
    workers_before = common.children(master)
    records: list[tuple[float, float, str]] = []  # start, end, error ("" = ok)
    t0 = time.monotonic()
    kill_at, after = 5.0, 10.0
    deadline = t0 + kill_at + after

    def drive(index: int) -> None:
        with requests.Session() as session:
            n = index * 7919
            while time.monotonic() < deadline:
                url = urls[n % len(urls)]
                n += 13
                start = time.monotonic() - t0
                try:
                    status = session.get(url, timeout=30).status_code
                    error = "" if status < 400 else f"HTTP {status}"
                except requests.RequestException as exc:
                    error = type(exc).__name__
                records.append((start, time.monotonic() - t0, error))

    threads = [threading.Thread(target=drive, args=(i,), daemon=True) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    time.sleep(kill_at - 1.0)
    before = {pid: cpu_ticks(pid) for pid in workers_before}
    time.sleep(1.0)
    busy = {pid: cpu_ticks(pid) - before[pid] for pid in workers_before}
    victim = max(busy, key=lambda pid: busy[pid])
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic() - t0
    replaced_after = None
    while time.monotonic() < deadline:
        now = common.children(master)
        if replaced_after is None and set(now) - set(workers_before):
            replaced_after = round(time.monotonic() - t0 - killed, 2)
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    workers_after = common.children(master)
    master_alive = common.alive(master)
    servers.stop(server)

    failures = [r for r in records if r[2]]
    in_flight = sum(1 for start, end, _ in records if start <= killed < end)
    late = [r for r in failures if not (killed - 0.05 <= r[1] <= killed + 1.0)]
    ok_after = sum(1 for start, _, error in records if not error and start > killed + 1.0)
    ok_before = sum(1 for start, _, error in records if not error and start < killed)
    new_workers = sorted(set(workers_after) - set(workers_before))
    passed = (
        master_alive
        and victim not in workers_after
        and len(new_workers) == 1
        and len(workers_after) == len(workers_before)
        and len(failures) <= CONCURRENCY
        and not late
        and ok_after > 0
    )
    return {
        "server": kind,
        "workers_before": workers_before,
        "cpu_ticks_last_second": {str(pid): ticks for pid, ticks in busy.items()},
        "killed_worker": victim,
        "killed_at_s": round(killed, 3),
        "master_alive": master_alive,
        "workers_after": workers_after,
        "new_workers": new_workers,
        "replaced_after_s": replaced_after,
        "requests": len(records),
        "ok_per_s_before": round(ok_before / killed, 1),
        "ok_per_s_after": round(ok_after / (after - 1.0), 1),
        "in_flight_at_kill": in_flight,
        "failures": len(failures),
        "failure_kinds": sorted({r[2] for r in failures}),
        "failures_ended_s_after_kill": [round(r[1] - killed, 3) for r in failures],
        "failures_outside_1s": len(late),
        "passed": passed,
    }


# ---------------------------------------------------------------------------------------
# (b) an ingest killed half-way


def make_pages(folder: Path, count: int = 12, width: int = 4000, height: int = 3000) -> int:
    """``count`` large noisy JPEG pages (they compress like scans); total bytes."""
    import pyvips

    folder.mkdir(parents=True)
    for n in range(1, count + 1):
        bands = [
            pyvips.Image.gaussnoise(width, height, sigma=30, mean=150 + 10 * band)
            for band in range(3)
        ]
        grid = pyvips.Image.xyz(width, height)
        lines = ((grid[0] + grid[1] * (n % 3 + 1)) % 97 < 3).ifthenelse(60, 0)
        page = (bands[0].bandjoin(bands[1:]) - lines).cast("uchar")
        page.jpegsave(str(folder / f"{n}.jpg"), Q=90)
    return sum(p.stat().st_size for p in folder.iterdir())


def ingest_state(instance: Path) -> dict[str, Any]:
    """Rows, stored objects and staging folders, read straight from disk and SQLite."""
    storage = instance / "storage"
    stored = {
        p.relative_to(storage).as_posix()
        for p in storage.rglob("*")
        if p.is_file() and p.relative_to(storage).parts[0] in ("masters", "pyramids")
    }
    temp = [k for k in stored if k.rsplit("/", 1)[-1].startswith(".tmp-")]
    referenced: set[str] = set()
    pending: list[str] = []
    items = images = 0
    database = instance / "tangthu.sqlite"
    if database.exists():
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT master_key, pyramid_key FROM image").fetchall()
            referenced = {key for row in rows for key in row}
            images = len(rows)
            items = db.execute("SELECT count(*) FROM item").fetchone()[0]
            pending = [row[0] for row in db.execute("SELECT key FROM pending_object")]
    staging = instance / "staging"
    leftovers = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
    return {
        "items": items,
        "images": images,
        "pending_rows": len(pending),
        "stored_objects": len(stored),
        "orphans": sorted(stored - referenced),
        "temp_files": sorted(temp),
        "temp_mb": round(sum((storage / k).stat().st_size for k in temp) / 1e6, 1),
        "missing": sorted(referenced - stored),
        "staging": leftovers,
    }


def pyramids_in(folder: Path) -> int:
    """Finished pyramid files under ``folder`` (not the .tmp- files being written)."""
    if not folder.exists():
        return 0
    return sum(1 for p in folder.rglob("*.tif") if not p.name.startswith("."))


def consistent(state: dict[str, Any]) -> bool:
    return not (state["pending_rows"] or state["orphans"] or state["missing"] or state["staging"])


def kill_an_ingest(work: Path) -> dict[str, Any]:
    """Three SIGKILLs at different points, cleanup between them, then a full ingest."""
    instance = work / "ingest-instance"
    env = common.instance_env(instance, common.free_port(), common.free_port())
    pages = work / "big-pages"
    started = time.monotonic()
    size = make_pages(pages)
    drawn_s = time.monotonic() - started
    count = len(list(pages.iterdir()))
    args = [str(common.TANGTHU), "ingest", str(pages), "--collection", "c", "--title", "Sổ lớn"]
    rounds = []
    # Where each kill lands: pyramids being built in staging (masters being copied
    # meanwhile), pyramids half stored, and all but one stored; then who cleans up.
    plan = (
        ("staging", count // 2, "cleanup"),
        ("storage", count // 2, "cleanup"),
        ("storage", count - 1, "ingest"),
    )
    for where, threshold, recover in plan:
        process = subprocess.Popen(
            args,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        folder = instance / ("staging" if where == "staging" else "storage/pyramids")
        while process.poll() is None and time.monotonic() - started < 300:
            if pyramids_in(folder) >= threshold:
                break
            time.sleep(0.005)
        finished_first = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait()
        at_kill = ingest_state(instance)
        entry: dict[str, Any] = {
            "killed_when": f"{threshold} of {count} pyramids in {where}",
            "killed_after_s": round(time.monotonic() - started, 2),
            "finished_before_kill": finished_first,
            "at_kill": summarise(at_kill),
            "recovered_by": recover,
        }
        if recover == "cleanup":
            result = common.tangthu(env, "cleanup")
            entry["cleanup_exit"] = result.returncode
            entry["cleanup_output"] = result.stdout.strip()[-300:]
            state = ingest_state(instance)
            entry["after_cleanup"] = summarise(state)
            entry["consistent"] = consistent(state) and state["items"] == 0
        rounds.append(entry)
    started = time.monotonic()
    final = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True)
    state = ingest_state(instance)
    rounds[-1]["after_next_ingest"] = summarise(state)
    rounds[-1]["consistent"] = consistent(state)
    full_ok = final.returncode == 0 and state["items"] == 1 and state["images"] == count
    return {
        "pages": count,
        "page_size": "4000x3000",
        "source_mb": round(size / 1e6, 1),
        "drawing_s": round(drawn_s, 1),
        "rounds": rounds,
        "full_ingest_exit": final.returncode,
        "full_ingest_s": round(time.monotonic() - started, 1),
        "full_ingest_output": final.stdout.strip()[-300:],
        "after_full_ingest": summarise(state),
        "passed": full_ok and consistent(state) and all(r["consistent"] for r in rounds),
    }


def summarise(state: dict[str, Any]) -> dict[str, Any]:
    """The state with lists shortened to counts and a few examples."""
    short = dict(state)
    for name in ("orphans", "temp_files", "missing", "staging"):
        short[name] = len(state[name])
        if state[name]:
            short[f"{name}_examples"] = state[name][:3]
    return short


# ---------------------------------------------------------------------------------------
# (c) the database made read-only


class FormFields(HTMLParser):
    """The fields of each <form> on a page, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1][a["name"]] = a.get("value", "on" if kind == "checkbox" else "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.forms[-1][a["name"]] = ""
        elif tag == "select" and a.get("name"):
            self._select, self._select_first = a["name"], None
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
                self.forms[-1].setdefault(self._select, value)
            if "selected" in a:
                self.forms[-1][self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1][self._textarea] += data


def form_with(html: str, field: str) -> dict[str, str]:
    parser = FormFields()
    parser.feed(html)
    for form in parser.forms:
        if field in form:
            return form
    raise RuntimeError(f"no form with {field!r} on the page")


def sign_in(web: str, username: str, password: str) -> tuple[requests.Session, int]:
    session = requests.Session()
    form = form_with(session.get(f"{web}/auth/login", timeout=30).text, "csrf_token")
    response = session.post(
        f"{web}/auth/login",
        data={**form, "username": username, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    return session, response.status_code


def page_text(html: str, limit: int = 300) -> str:
    """The visible text of a page's <main> (or body), squeezed, for the report."""
    main = re.search(r"<main.*?</main>", html, re.S) or re.search(r"<body.*?</body>", html, re.S)
    text = re.sub(r"<[^>]+>", " ", main.group(0) if main else html)
    return re.sub(r"\s+", " ", text).strip()[:limit]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def replace_workers(server: Server) -> None:
    """gunicorn's workers replaced (SIGHUP), and back to answering."""
    workers = common.children(server.pid)
    os.kill(server.pid, signal.SIGHUP)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(common.children(server.pid)) & set(workers):
        time.sleep(0.2)
    time.sleep(1.0)


def readonly_database(
    servers: Servers, env: dict[str, str], instance: Path, port: int, items: list[common.ItemRef]
) -> dict[str, Any]:
    """Reads, a curator's save and a CLI write against a read-only SQLite file."""
    web = f"http://{common.HOST}:{port}"
    root = os.geteuid() == 0
    prefix = NO_DAC if root else []
    password = "mat-khau-thu-thu-soak"
    made = common.tangthu(
        {**env, "TANGTHU_NEW_USER_PASSWORD": password}, "create-user", "--curator", "thuthu"
    )
    if made.returncode:
        raise RuntimeError(f"create-user failed: {made.stdout}{made.stderr}")
    argv = [*prefix, sys.executable, "-m", "gunicorn", "--chdir", str(common.ROOT)]
    argv += ["-c", str(common.ROOT / "deploy" / "gunicorn_repository.py")]
    settings = {
        "TANGTHU_REPOSITORY_BIND": f"{common.HOST}:{port}",
        "TANGTHU_REPOSITORY_WORKERS": "2",
        "TANGTHU_REPOSITORY_MAX_REQUESTS": "0",
    }
    server = common.start_server(
        servers,
        "repository (no DAC override)",
        argv,
        {**env, **settings},
        instance.parent / "repository-readonly.log",
        f"{web}/health",
    )
    item = next(i for i in items if i.open and i.images)
    text_item = next((i for i in items if i.searchable), item)
    reads = {
        "home": f"{web}/",
        "item page": f"{web}/items/{item.id}",
        "manifest 3.0": f"{web}/iiif/{item.id}/manifest",
        "manifest 2.1": f"{web}/iiif/2/{item.id}/manifest",
        "search": f"{web}/search?q=truyen+kieu",
        "content search": f"{web}/iiif/{text_item.id}/search/1?q=den",
        "ready": f"{web}/ready",
    }
    edit = f"{web}/admin/items/{item.id}"
    curator, login_status = sign_in(web, "thuthu", password)
    form = form_with(curator.get(edit, timeout=30).text, "title_vi")
    title_before = form["title_vi"]
    manifest_before = requests.get(reads["manifest 3.0"], timeout=30).json()["label"]

    database = instance / "tangthu.sqlite"
    modes = (database.stat().st_mode & 0o777, instance.stat().st_mode & 0o777)
    result: dict[str, Any] = {
        "server_runs_as": "root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH/CAP_FOWNER (setpriv)"
        if root
        else f"uid {os.geteuid()}",
        "signed_in_before": login_status,
    }
    database.chmod(0o444)
    instance.chmod(0o555)
    # Modes are checked when a file is opened: connections a worker already holds (it keeps
    # them between requests) write on, as with any database server. Fresh workers open
    # the file as it is now, which is what a read-only file means to a starting server.
    replace_workers(server)
    # After the old workers closed their connections (the last to close folds the WAL
    # into the file): what the read-only time itself changes.
    digest_before = sha256(database)
    try:
        result["reads"] = {}
        for name, url in reads.items():
            response = requests.get(url, timeout=30)
            result["reads"][name] = response.status_code
            if name == "ready":  # still ready (readers are served), but it says so
                result["ready_says"] = response.json() if response.ok else response.text[:200]
        attempt = curator.post(
            edit,
            data={**form, "title_vi": title_before + " (sửa)"},
            allow_redirects=False,
            timeout=30,
        )
        result["save_item"] = {
            "status": attempt.status_code,
            "content_type": attempt.headers.get("Content-Type", ""),
            "text": page_text(attempt.text),
            "body": attempt.text[:400],
            "has_traceback": "Traceback" in attempt.text,
            # the app's own error page, not the server's bare "Internal Server Error"
            "app_error_page": "<title>Internal Server Error</title>" not in attempt.text,
            "mentions_read_only": bool(re.search(r"read.?only|chỉ đọc", attempt.text, re.I)),
        }
        _, locked_login = sign_in(web, "thuthu", password)
        result["sign_in_while_read_only"] = locked_login
        cli_argv = [*prefix, str(common.TANGTHU), "create-user", "--reader", "docgia"]
        cli = subprocess.run(
            cli_argv,
            env={**os.environ, **env, "TANGTHU_NEW_USER_PASSWORD": "mat-khau-doc-gia"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = (cli.stdout + cli.stderr).strip()
        result["cli_create_user"] = {
            "exit": cli.returncode,
            "has_traceback": "Traceback" in output,
            "error": next(
                (line for line in reversed(output.splitlines()) if "Error" in line), output[-300:]
            )[:300],
        }
        result["reads_after_failed_write"] = {
            name: requests.get(url, timeout=30).status_code for name, url in reads.items()
        }
        # Readers keep coming while the file is read-only: a burst of parallel reads makes
        # both workers open new database connections now, as a busy site would.
        urls = [url for url in reads.values() for _ in range(8)]
        with ThreadPoolExecutor(16) as pool:
            burst = list(pool.map(lambda url: requests.get(url, timeout=30).status_code, urls))
        result["parallel_reads"] = {"requests": len(burst), "ok": burst.count(200)}
    finally:
        instance.chmod(modes[1])
        database.chmod(modes[0])
    result["database_unchanged"] = sha256(database) == digest_before
    form_after = form_with(curator.get(edit, timeout=30).text, "title_vi")
    result["title_unchanged"] = form_after["title_vi"] == title_before
    result["manifest_unchanged"] = (
        requests.get(reads["manifest 3.0"], timeout=30).json()["label"] == manifest_before
    )
    saves = []
    for n in range(4):  # enough to reach both workers, whichever held the failed request
        fresh = form_with(curator.get(edit, timeout=30).text, "title_vi")
        response = curator.post(
            edit, data={**fresh, "title_vi": f"{title_before} ({n})"}, allow_redirects=False
        )
        saves.append(response.status_code)
    result["saves_after_restore"] = saves
    if any(status != 302 for status in saves):
        # Do fresh worker processes (fresh database connections) write again?
        replace_workers(server)
        saves = []
        for n in range(4):
            fresh = form_with(curator.get(edit, timeout=30).text, "title_vi")
            response = curator.post(
                edit, data={**fresh, "title_vi": f"{title_before} ({n})"}, allow_redirects=False
            )
            saves.append(response.status_code)
        result["saves_after_worker_restart"] = saves
    final = form_with(curator.get(edit, timeout=30).text, "title_vi")["title_vi"]
    label = requests.get(reads["manifest 3.0"], timeout=30).json()["label"]
    result["saved_title_shown"] = final == f"{title_before} (3)"
    result["manifest_republished"] = f"{title_before} (3)" in json.dumps(label, ensure_ascii=False)
    cli = common.tangthu(
        {**env, "TANGTHU_NEW_USER_PASSWORD": "x" * 12}, "create-user", "--reader", "docgia"
    )
    result["cli_after_restore_exit"] = cli.returncode
    servers.stop(server)
    save = result["save_item"]
    result["reads_ok"] = all(s == 200 for s in result["reads"].values()) and all(
        s == 200 for s in result["reads_after_failed_write"].values()
    )
    result["write_refused_cleanly"] = (
        500 <= save["status"] < 600 and not save["has_traceback"] and save["app_error_page"]
    )
    cli = result["cli_create_user"]
    result["cli_refused_cleanly"] = cli["exit"] != 0 and not cli["has_traceback"]
    result["nothing_lost"] = (
        result["database_unchanged"] and result["title_unchanged"] and result["manifest_unchanged"]
    )
    result["writes_after_restore_ok"] = (
        all(s == 302 for s in result["saves_after_restore"])
        and result["saved_title_shown"]
        and result["cli_after_restore_exit"] == 0
    )
    says = result.get("ready_says")
    result["ready_reports_read_only"] = isinstance(says, dict) and says["database"] == "read-only"
    result["passed"] = (
        result["reads_ok"]
        and result["ready_reports_read_only"]
        and result["write_refused_cleanly"]
        and result["cli_refused_cleanly"]
        and result["nothing_lost"]
        and result["writes_after_restore_ok"]
    )
    return result


# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", default="worker,ingest,readonly")
    parser.add_argument("--out", type=Path, default=common.SOAK)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="tangthu-faults-"))
    work.chmod(0o755)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    try:
        if only & {"worker", "readonly"}:
            instance = work / "instance"
            web_port, image_port = common.free_port(), common.free_port()
            env = common.instance_env(instance, web_port, image_port)
            print("loading the sample collection …", flush=True)
            common.load_sample(env)
            with Servers() as servers:
                repository = common.start_repository(
                    servers, env, web_port, 2, work / "repository.log"
                )
                image = common.start_image_server(
                    servers, "gunicorn", env, image_port, 2, work / "image-discover.log"
                )
                items = common.discover(f"http://{common.HOST}:{web_port}")
                servers.stop(image)
                servers.stop(repository)
                if "worker" in only:
                    urls = tile_urls(items, f"http://{common.HOST}:{image_port}")
                    results["worker_kill"] = []
                    for kind in ("gunicorn", "granian"):
                        print(f"(a) killing an image-server worker under load ({kind}) …")
                        outcome = kill_a_worker(servers, kind, env, image_port, urls, work)
                        results["worker_kill"].append(outcome)
                if "readonly" in only:
                    print("(c) read-only database …", flush=True)
                    results["readonly_database"] = readonly_database(
                        servers, env, instance, web_port, items
                    )
        if "ingest" in only:
            print("(b) killing an ingest half-way …", flush=True)
            results["ingest_kill"] = kill_an_ingest(work)
        args.out.mkdir(parents=True, exist_ok=True)
        out = args.out / "faults-last-run.json"
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        summary(results)
        print(f"written {out}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def summary(results: dict[str, Any]) -> None:
    print("\n| fault | outcome | passed |")
    print("| --- | --- | --- |")
    for run in results.get("worker_kill", []):
        print(
            f"| worker SIGKILL, {run['server']} | master alive {run['master_alive']}, "
            f"replaced after {run['replaced_after_s']} s, {run['failures']} failed of "
            f"{run['requests']:,} ({run['in_flight_at_kill']} in flight at the kill, "
            f"{run['failures_outside_1s']} outside 1 s), {run['ok_per_s_before']}/s before, "
            f"{run['ok_per_s_after']}/s after | {run['passed']} |"
        )
    if "ingest_kill" in results:
        run = results["ingest_kill"]
        kills = "; ".join(
            f"{r['killed_when']}: {r['at_kill']['orphans']} orphans, "
            f"{r['at_kill']['pending_rows']} pending, {r['at_kill']['staging']} staging "
            f"-> {r['recovered_by']}: consistent {r['consistent']}"
            for r in run["rounds"]
        )
        print(
            f"| ingest SIGKILL | {kills}; full ingest exit {run['full_ingest_exit']} "
            f"({run['after_full_ingest']['images']} images) | {run['passed']} |"
        )
    if "readonly_database" in results:
        run = results["readonly_database"]
        save = run["save_item"]
        print(
            f"| read-only SQLite | reads {run['reads']}; /ready says {run.get('ready_says')}; "
            f"save -> {save['status']} "
            f'"{save["text"][:120]}" (the app\'s own page: {save["app_error_page"]}); '
            f"sign-in -> {run['sign_in_while_read_only']}; CLI exit "
            f"{run['cli_create_user']['exit']} ({run['cli_create_user']['error'][:80]}); "
            f"unchanged {run['nothing_lost']}; saves after restore {run['saves_after_restore']}"
            f", after a worker restart {run.get('saves_after_worker_restart', '-')}"
            f" | {run['passed']} |"
        )


if __name__ == "__main__":
    main()
