"""The dashboard's and the usage report's queries at scale: 200,000 items.

    .venv/bin/python -m benchmarks.usage.scale [--items 200000] [--pages 5]

Rows only, written in bulk into a fresh SQLite instance: items in four collections (one
per programme category), ``--pages`` pages each, a fifth of them with text, and a month
of usage for every tenth item by ten sessions. Prints how long ``programme.dashboard``
(one year) and ``usage.usage_by_item`` (twelve months) take, best of three.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description="programme and usage queries at scale")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tangthu-scale-"))
    os.environ["TANGTHU_INSTANCE_PATH"] = str(work / "instance")
    from repository import create_app
    from repository.extensions import db
    from repository.models import Collection, Image, Item, PageText, UsageCount
    from repository.services import programme, usage

    app = create_app({"PUBLIC_URL": "http://127.0.0.1:8000"})
    try:
        with app.app_context():
            db.create_all()
            categories = [c.value for c in programme.Category]
            db.session.execute(
                db.insert(Collection),
                [{"slug": c, "title": {}, "programme_category": c} for c in categories],
            )
            start = datetime(2026, 1, 1)
            rng = random.Random(7)
            for first in range(0, args.items, 10_000):
                items, images, texts, uses = [], [], [], []
                for n in range(first, min(first + 10_000, args.items)):
                    at = start + timedelta(minutes=rng.randrange(500_000))
                    status = "published" if n % 3 else "draft"
                    items.append(
                        {
                            "id": f"i{n}",
                            "collection_id": n % 4 + 1,
                            "status": status,
                            "title": {},
                            "created_at": at,
                            "published_at": at,
                        }
                    )
                    for page in range(args.pages):
                        images.append(
                            {
                                "id": f"p{n}-{page}",
                                "item_id": f"i{n}",
                                "position": page,
                                "media_type": "image/jpeg",
                                "width": 1,
                                "height": 1,
                                "byte_size": 1,
                                "sha256": "0",
                                "derivative_sha256": "0",
                                "master_key": "m",
                                "pyramid_key": "p",
                                "created_at": at,
                            }
                        )
                        if n % 5 == 0:
                            texts.append(
                                {
                                    "image_id": f"p{n}-{page}",
                                    "item_id": f"i{n}",
                                    "languages": "vie",
                                    "status": "done",
                                    "updated_at": at,
                                }
                            )
                    if n % 10 == 0:
                        for session in range(10):
                            uses.append(
                                {
                                    "month": date(2026, 1 + n % 12, 1),
                                    "item_id": f"i{n}",
                                    "metric": "investigation",
                                    "session": f"s{session}",
                                    "hits": 2,
                                }
                            )
                db.session.execute(db.insert(Item), items)
                db.session.execute(db.insert(Image), images)
                if texts:
                    db.session.execute(db.insert(PageText), texts)
                db.session.execute(db.insert(UsageCount), uses)
                db.session.commit()
            end = date(2026, 12, 31)
            for name, run in (
                ("programme.figures_by_category", lambda: programme.figures_by_category(end)),
                ("programme.monthly_pages", lambda: programme.monthly_pages(date(2026, 1, 1), end)),
                (
                    "programme.dashboard, one year",
                    lambda: programme.dashboard(date(2026, 1, 1), date(2026, 12, 31)),
                ),
                (
                    "usage.usage_by_item, twelve months",
                    lambda: usage.usage_by_item(date(2026, 1, 1), date(2026, 12, 1)),
                ),
            ):
                best = float("inf")
                for _ in range(3):
                    began = time.perf_counter()
                    run()
                    best = min(best, time.perf_counter() - began)
                print(
                    f"{name}: {best:.2f} s at {args.items:,} items, "
                    f"{args.items * args.pages:,} pages"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
