"""Demo data: holdings for the sample's collections, and some recorded usage."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from ...extensions import db
from ...models import Collection, Item, ProgrammeHoldings, UsageCount
from ..usage import INVESTIGATION, REQUEST, Hit, store
from . import Category

DEMO_HOLDINGS = (
    # Small, to suit the sample's few pages: the dashboard then shows a real projection.
    (Category.ANCIENT_RARE, 12, 60, "Kiểm kê kho Hán Nôm (mẫu)"),
    (Category.LOCAL_HISTORY, 8, 300, "Kiểm kê kho địa chí (mẫu)"),
    (Category.THESES_RESEARCH, 20, 2_000, "Luận án, luận văn (mẫu)"),
)


def load_demo(today: date | None = None) -> None:
    """Holdings for the sample's collections and a few months of usage, once.

    The sample collections count as ancient and rare (their books are Nôm, Hán and
    imperial records); the usage is made up of readers on several days, as the recorder
    would have stored it."""
    today = today or date.today()
    for found in db.session.execute(db.select(Collection)).scalars():
        if found.programme_category == Category.OTHER.value:
            found.programme_category = Category.ANCIENT_RARE.value
    if db.session.execute(db.select(ProgrammeHoldings.id).limit(1)).first() is None:
        counted = today.replace(month=1, day=1)
        for category, titles, pages, note in DEMO_HOLDINGS:
            db.session.add(
                ProgrammeHoldings(
                    category=category.value,
                    titles=titles,
                    pages=pages,
                    counted_on=counted,
                    note=note,
                    entered_by="sample",
                )
            )
    db.session.commit()
    if db.session.execute(db.select(UsageCount.item_id).limit(1)).first() is not None:
        return
    ids = list(db.session.execute(db.select(Item.id).order_by(Item.created_at)).scalars())
    hits: list[Hit] = []
    for back in range(6):
        day = today - timedelta(days=30 * back)
        at = datetime.combine(day, time(hour=9))
        for reader in range(3 + (5 - back) * 2):
            agent = f"Mozilla/5.0 (demo reader {reader}) Firefox/133.0"
            for rank, item_id in enumerate(ids):
                for visit in range(max(1, 3 - rank)):  # minutes apart: not double clicks
                    seen = at + timedelta(minutes=visit)
                    hits.append(
                        Hit(seen, item_id, INVESTIGATION, "public.item", f"r{reader}", agent)
                    )
                if rank == 0 and reader % 3 == 0:
                    pdf = Hit(at, item_id, REQUEST, "public.download_pdf", f"r{reader}", agent)
                    hits.append(pdf)
    if hits:
        store(hits)
