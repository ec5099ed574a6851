"""Every public page at a national library's size: 200,000 items and 2,000,000 pages.

    .venv/bin/python -m benchmarks.scale.run                      # SQLite, then PostgreSQL
    .venv/bin/python -m benchmarks.scale.run --databases sqlite   # one of them
    .venv/bin/python -m benchmarks.scale.run --items 50000 --pages 500000
    .venv/bin/python -m benchmarks.scale.run --smoke              # 2,000 items, SQLite, ~1 min

1. A fresh instance per database gets the generated catalogue (``data.py``) as rows,
   loaded in bulk (``load.py``): 50 collections (the first holds a fifth of the items,
   three are its children, four are featured), items with Vietnamese and Hán-Nôm titles
   (𡨸 among them), Dublin Core, years and every access level (open, degraded,
   restricted, onsite, staff, embargoed; drafts and withdrawn items too), their page
   rows, and the Create, Update and Delete events that Discovery and OAI-PMH read. The
   schema is the migrations'; the search index is the app's own, rebuilt; a few open
   items are published through ``publish_item`` (manifests and sidecars). PostgreSQL is a
   throwaway cluster on a free loopback port (``postgres.py``), removed at the end.
2. The repository is served as deployed: gunicorn, 2 gthread workers of 4 threads.
3. Every path of every page is fetched once and must be a 2xx of its kind (HTML with its
   marker, a IIIF type, OAI records, a sitemap); otherwise the run fails.
4. Each page is loaded by ``wrk -t2 -c8`` for ``--duration`` seconds over its paths
   (``paths.lua`` prints p50, p95 and p99). Target: p95 under 200 ms everywhere.
5. The open-data exports: time to the first byte, then up to ``--export-seconds`` of
   reading while the app's memory is traced (flat: the stream holds no catalogue).
6. The peak RSS of the app's processes (master and workers) over the whole run.

Prints a table per database and writes benchmarks/results/scale-<timestamp>.json. Exits
non-zero if any answer was not a 2xx of its kind (``--smoke`` checks exactly that).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.tiles.procs import HOST, free_port, http_get

from . import data, load, measure
from .measure import Page, html, iiif, xml

RESULTS = Path(__file__).resolve().parents[1] / "results"
TARGET_P95_MS = 200.0
VI_QUERIES = (
    "dai viet su ky",
    "truyen kieu",
    "nguyen dinh chieu",
    "dia ba lang phu xuan",
    "chinh phu ngam",
    "quoc trieu hinh luat",
)
HAN_QUERIES = ("史記", "大南寔錄", "𡨸", "國音", "地簿")


def pages_to_measure(
    base: str, slugs: list[str], published: list[str], deep: dict[str, int]
) -> list[Page]:
    """Every page the issue names, with paths found by asking the running server."""
    first = slugs[:10]
    manifest_pages = _iiif_pages(base, slugs[0]) or ["1"]
    oai = "/oai?verb=ListRecords&metadataPrefix=oai_dc"
    starts = [oai, f"{oai}&set={slugs[5]}", f"{oai}&from=2023-01-01", f"{oai}&set={slugs[0]}"]
    tokens = [t for start in starts for t in _tokens(base, start, 3)]
    sitemaps = len(re.findall(rb"items-\d+\.xml", http_get(base + "/sitemap.xml")[2]))
    discovery = json.loads(http_get(base + "/iiif/discovery/collection")[2])
    last_discovery = int(discovery["last"]["id"].rsplit("/", 1)[1])
    return [
        Page("home", ["/"], html(f"/collections/{slugs[0]}")),
        Page("collection, first page", [f"/collections/{s}" for s in first], html("/items/")),
        Page(
            "collection, deep page",
            [
                f"/collections/{slug}?page={n}"
                for slug, last in deep.items()
                for n in sorted({last, max(1, last // 2)})
            ],
            html("/items/"),
        ),
        Page("item page", [f"/items/{i}" for i in published], html("application/ld+json")),
        Page(
            "search, Vietnamese without diacritics",
            [f"/search?q={quote(q)}" for q in VI_QUERIES],
            html('class="result"'),
        ),
        Page(
            "search, Hán-Nôm",
            [f"/search?q={quote(q)}" for q in HAN_QUERIES],
            html('class="result"'),
        ),
        Page(
            "search, each query new (nothing kept)",
            fresh_queries(),
            html('class="result"'),
            probes=[f"/search?q={quote(q)}" for q in ("su ky", "truyện", "làng", "史")],
        ),
        Page(
            "search, by title",
            [f"/search?q={quote(q)}&sort=title" for q in VI_QUERIES[:3]],
            html('class="result"'),
        ),
        Page("browse", ["/browse"], html("/browse/subject?term=")),
        Page(
            "browse, a subject's or place's items",
            [f"/browse/subject?term={quote(t)}" for t in data.SUBJECTS[:3]]
            + [f"/browse/place?term={quote(t)}&page=5" for t in data.PLACES[:3]],
            html("/items/"),
        ),
        Page(
            "browse, A–Z",
            [f"/browse/title?letter={quote(c)}" for c in sorted({w[0][0] for w in data.WORKS})],
            html("/items/"),
        ),
        Page(
            "browse, a century or decade",
            [f"/browse/date?century={c}" for c in (15, 17, 19)] + ["/browse/date?decade=1780"],
            html("/items/"),
        ),
        Page("manifest", [f"/iiif/{i}/manifest" for i in published], iiif("Manifest", "items")),
        Page(
            "IIIF collection, first page",
            [f"/iiif/collection/{s}?page=1" for s in first],
            iiif("Collection", "items"),
        ),
        Page(
            "IIIF collection, deep page",
            [f"/iiif/collection/{slugs[0]}?page={manifest_pages[-1]}"],
            iiif("Collection", "items"),
        ),
        Page("OAI ListRecords, first page", starts, xml("<record>")),
        Page(
            "OAI ListRecords, resumption",
            [f"/oai?verb=ListRecords&resumptionToken={quote(t)}" for t in tokens],
            xml("<record>"),
        ),
        Page("sitemap index", ["/sitemap.xml"], xml("<sitemapindex")),
        Page(
            "sitemap page",
            sorted(
                {
                    "/sitemaps/items-1.xml",
                    f"/sitemaps/items-{sitemaps}.xml",
                    f"/sitemaps/items-{max(1, sitemaps // 2)}.xml",
                }
            ),
            xml("<urlset"),
        ),
        Page(
            "Discovery collection",
            ["/iiif/discovery/collection"],
            iiif("OrderedCollection", "first"),
        ),
        Page(
            "Discovery page",
            [f"/iiif/discovery/page/{n}" for n in sorted({0, last_discovery // 2, last_discovery})],
            iiif("OrderedCollectionPage", "orderedItems"),
        ),
    ]


def fresh_queries(count: int = 2000) -> list[str]:
    """Search paths never asked before: two words of a title and a word of a creator's
    name, with their diacritics or without, each once. A 5 s load asks a few hundred of
    them, so every answer is worked out, none is one the app kept."""
    from repository.search import fold

    queries: list[str] = []
    surnames = [name.split()[-1] for name in data.CREATORS]
    for title, _han, _languages in data.WORKS:
        words = title.split()
        for first, second in itertools.combinations(words, 2):
            for surname in surnames:
                query = f"{first} {second} {surname}"
                queries.append(fold(query) if len(queries) % 2 else query)
    random.Random(20261205).shuffle(queries)
    return [f"/search?q={quote(q)}" for q in dict.fromkeys(queries)][:count]


def _iiif_pages(base: str, slug: str) -> list[str]:
    """The page numbers a paged IIIF collection lists."""
    document = json.loads(http_get(f"{base}/iiif/collection/{slug}")[2])
    return [i["id"].rsplit("=", 1)[1] for i in document.get("items", []) if "page=" in i["id"]]


def _tokens(base: str, path: str, count: int) -> list[str]:
    """The resumption tokens of the first ``count`` pages of a list."""
    found: list[str] = []
    for _ in range(count):
        body = http_get(base + path, timeout=60)[2]
        token = re.search(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>", body)
        if token is None:
            break
        found.append(token.group(1).decode())
        path = f"/oai?verb=ListRecords&resumptionToken={quote(found[-1])}"
    return found


def deep_pages(app: Any, slugs: list[str]) -> dict[str, int]:
    """The last page of these collections as the public sees them (24 items a page)."""
    from repository.extensions import db
    from repository.models import Collection, Item
    from repository.services.access import ANONYMOUS, visible_items

    with app.app_context():
        counts = dict(
            db.session.execute(
                db.select(Collection.slug, db.func.count(Item.id))
                .join(Collection)
                .where(Collection.slug.in_(slugs), visible_items(ANONYMOUS))
                .group_by(Collection.slug)
            ).all()
        )
    return {slug: max(1, math.ceil(counts.get(slug, 0) / 24)) for slug in slugs}


def run_one(database: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from repository import create_app

    size = data.Size(args.items, args.pages)
    catalogue = data.plan(size, args.seed)
    port = free_port()
    instance = work / database / "instance"
    context = postgres_cluster() if database == "postgresql" else nullcontext("")
    with context as url:
        config = {
            "INSTANCE_PATH": str(instance),
            "PUBLIC_URL": f"http://{HOST}:{port}",
            "DATABASE_URL": url,
        }
        app = create_app(config)
        print(f"\n## {database}: {size.items:,} items, {size.pages:,} pages", flush=True)
        timings = load.load(app, catalogue)
        published = load.publish_few(app, catalogue, 20)
        deep = deep_pages(app, [catalogue.slugs[0], catalogue.slugs[7]])
        env = {"TANGTHU_INSTANCE_PATH": str(instance), "TANGTHU_PUBLIC_URL": config["PUBLIC_URL"]}
        if url:
            env["TANGTHU_DATABASE_URL"] = url
        server = measure.Server(port, env)
        try:
            pages = pages_to_measure(server.base, catalogue.slugs, published, deep)
            if args.only:
                pages = [page for page in pages if args.only in page.name]
                # What each worker works out ahead as it starts (browse's counts) is done
                # by the time a full run reaches most pages: let it finish here too.
                time.sleep(20)
            faults, cold = [], {}
            for page in pages:
                cold[page.name], found = measure.check(server.base, page)
                faults += found
            for page in pages:
                server.memory.window()
                page.figures = measure.wrk(server.base, page, args.duration, work)
                page.figures["first_request_ms"] = cold[page.name]
                page.figures["load_average"] = round(os.getloadavg()[0], 1)
                page.figures["rss_peak_mb"] = round(server.memory.window_peak / 1024, 1)
                page.figures["paths"] = len(page.paths)
                print(_row(page.name, page.figures), flush=True)
                if page.figures["non_2xx"] or page.figures["socket_errors"]:
                    faults.append(
                        f"{page.name}: {page.figures['non_2xx']} non-2xx answers, "
                        f"{page.figures['socket_errors']} socket errors under load"
                    )
            exports = {
                path: measure.export_stream(server, path, args.export_seconds)
                for path in ("/opendata/items.csv", "/opendata/items.jsonld")
            }
            for path, figures in exports.items():
                print(
                    f"| export {path} | first byte {figures['ttfb_ms']} ms | "
                    f"{figures['mb_per_s']} MB/s over {figures['read_s']} s | RSS "
                    f"{figures['rss_before_mb']} → {figures['rss_early_mb']} → "
                    f"{figures['rss_late_mb']} MB |",
                    flush=True,
                )
                if figures["status"] != 200:
                    faults.append(f"export {path} answered {figures['status']}")
            peak = round(server.memory.peak / 1024, 1)
        finally:
            server.stop()
    print(f"peak RSS of the app (master + 2 workers): {peak} MB")
    return {
        "database": database,
        "items": size.items,
        "pages": size.pages,
        "load": {k: round(v, 1) for k, v in timings.items()},
        "published_for_requests": len(published),
        "measured": {page.name: page.figures for page in pages},
        "exports": exports,
        "peak_rss_mb": peak,
        "faults": faults,
    }


def postgres_cluster() -> Any:
    from . import postgres

    return postgres.cluster()


def _row(name: str, figures: dict[str, Any]) -> str:
    mark = "✓" if figures["p95_ms"] < TARGET_P95_MS else "✗"
    return (
        f"| {name} | {figures['p50_ms']:.1f} | {figures['p95_ms']:.1f} {mark} | "
        f"{figures['requests_per_s']:.0f} | {figures['first_request_ms']:.0f} | "
        f"{figures['rss_peak_mb']:.0f} | {figures['load_average']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="every public page at scale")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=2_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=5, help="seconds of wrk per page")
    parser.add_argument("--export-seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--only", default="", help="measure only the pages whose name has this")
    parser.add_argument(
        "--smoke", action="store_true", help="2,000 items, SQLite, 1 s per page: check every answer"
    )
    args = parser.parse_args()
    if args.smoke:
        args.items, args.pages, args.databases = 2000, 20_000, "sqlite"
        args.duration, args.export_seconds = 1, 2
    work = Path(tempfile.mkdtemp(prefix="tangthu-scale-"))
    runs = []
    try:
        for database in args.databases.split(","):
            print("| page | p50 ms | p95 ms | req/s | first ms | peak RSS MB | load |")
            runs.append(run_one(database.strip(), args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=RESULTS.parent.parent,
    ).stdout.strip()
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit,
        "machine": {
            "cores": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
        },
        "target_p95_ms": TARGET_P95_MS,
        "smoke": args.smoke,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"\nwritten {out}")
    print(table(runs))
    faults = [fault for run in runs for fault in run["faults"]]
    if faults:
        raise SystemExit("wrong answers:\n" + "\n".join(faults[:30]))
    slow = [
        f"{run['database']}: {name}"
        for run in runs
        for name, figures in run["measured"].items()
        if figures["p95_ms"] >= TARGET_P95_MS
    ]
    print("every page p95 < 200 ms" if not slow else "over the target: " + ", ".join(slow))


def table(runs: list[dict[str, Any]]) -> str:
    """One Markdown table: a row per page, p50/p95 per database."""
    names = list(runs[0]["measured"]) if runs else []
    head = "| page | " + " | ".join(f"{r['database']} p50 / p95 ms" for r in runs) + " |"
    lines = [head, "|---|" + "---|" * len(runs)]
    for name in names:
        cells = [
            f"{r['measured'][name]['p50_ms']:.1f} / {r['measured'][name]['p95_ms']:.1f}"
            for r in runs
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for path in ("/opendata/items.csv", "/opendata/items.jsonld"):
        cells = [
            f"first byte {r['exports'][path]['ttfb_ms']} ms, RSS "
            f"{r['exports'][path]['rss_early_mb']} → {r['exports'][path]['rss_late_mb']} MB"
            for r in runs
        ]
        lines.append(f"| export {path} | " + " | ".join(cells) + " |")
    lines.append("| peak RSS, app (MB) | " + " | ".join(str(r["peak_rss_mb"]) for r in runs) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
