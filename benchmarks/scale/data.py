"""The generated catalogue: seeded rows of collections, items, pages and events.

Nothing here touches a database: each function yields plain tuples in the column order
of ``COLUMNS``, so that SQLite (executemany) and PostgreSQL (COPY) load the same rows.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from repository.models import sortable_title
from repository.search import SearchDocument
from repository.services.collation import sort_key
from repository.services.terms import term_rows as item_term_rows

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # the alphabet of models.new_id
START = datetime(2016, 1, 1)
COLLECTIONS = 50
BIG_SHARE = 0.2  # the first collection holds a fifth of the catalogue: deep pages

# (Vietnamese title, its Hán or Nôm form or "", language codes)
WORKS = (
    ("Đại Việt sử ký toàn thư", "大越史記全書", ("vi", "lzh")),
    ("Khâm định Việt sử thông giám cương mục", "欽定越史通鑑綱目", ("lzh",)),
    ("Đại Nam thực lục", "大南寔錄", ("lzh",)),
    ("Truyện Kiều", "𡨸傳翹", ("nom",)),
    ("Lục Vân Tiên", "蓼雲仙傳", ("nom", "vi")),
    ("Quốc triều hình luật", "國朝刑律", ("lzh",)),
    ("Lĩnh Nam chích quái", "嶺南摭怪", ("lzh",)),
    ("Hồng Đức quốc âm thi tập", "洪德國音詩集", ("nom",)),
    ("Địa bạ làng Phú Xuân", "富春社地簿", ("lzh", "vi")),
    ("Châu bản triều Nguyễn", "阮朝硃本", ("lzh",)),
    ("Gia phả họ Nguyễn Phúc", "阮福族家譜", ("lzh",)),
    ("Ô Châu cận lục", "烏州近錄", ("lzh",)),
    ("Chinh phụ ngâm khúc", "征婦吟曲", ("nom", "lzh")),
    ("Cung oán ngâm khúc", "宮怨吟曲", ("nom",)),
    ("Thiên Nam ngữ lục", "天南語錄", ("nom",)),
    ("Báo Nam Phong", "", ("vi", "fr")),
    ("Tạp chí Tri Tân", "", ("vi",)),
    ("Sắc phong làng Kim Long", "金龍社敕封", ("lzh",)),
    ("Văn tế nghĩa sĩ Cần Giuộc", "祭芹蓰義士文", ("nom",)),
    ("Hương ước làng Đông Ngạc", "東鄂社鄉約", ("lzh", "vi")),
)
CREATORS = (
    "Ngô Sĩ Liên",
    "Lê Quý Đôn",
    "Nguyễn Du",
    "Nguyễn Đình Chiểu",
    "Phan Huy Chú",
    "Quốc sử quán triều Nguyễn",
    "Đặng Trần Côn",
    "Nguyễn Gia Thiều",
    "Khuyết danh",
)
SUBJECTS = ("Lịch sử", "Văn học", "Luật", "Địa chí", "Gia phả", "Tôn giáo", "Thơ Nôm")
PLACES = ("Thăng Long", "Huế", "Gia Định", "Nam Định", "Thanh Hóa", "Nghệ An", "Quảng Nam")
TYPES = ("Text", "Manuscript", "Map", "StillImage")
NUMERALS = "一二三四五六七八九十"
# Levels, weighted: open most, then the others; "embargoed" is open until a future day.
LEVELS = (
    ("open", 60),
    ("degraded", 12),
    ("restricted", 10),
    ("onsite", 3),
    ("staff", 5),
    ("embargoed", 10),
)
STATUSES = (("published", 88), ("draft", 7), ("withdrawn", 5))

COLUMNS = {
    "collection": (
        "id",
        "slug",
        "parent_id",
        "title",
        "description",
        "default_access",
        "featured",
        "ocr_languages",
        "created_at",
    ),
    "item": (
        "id",
        "collection_id",
        "title",
        "summary",
        "dc",
        "viewing_direction",
        "behavior",
        "rights",
        "year_start",
        "year_end",
        "toc",
        "access",
        "embargo_until",
        "status",
        "source_institution",
        "source_url",
        "remote_manifest",
        "created_at",
        "updated_at",
        "published_at",
        "title_sort",
    ),
    "item_term": ("kind", "key", "item_id", "label", "sort", "title_sort"),
    "image": (
        "id",
        "item_id",
        "position",
        "label",
        "original_name",
        "media_type",
        "width",
        "height",
        "byte_size",
        "sha256",
        "derivative_sha256",
        "master_key",
        "pyramid_key",
        "created_at",
    ),
    "event": ("id", "activity", "object_type", "object_id", "at"),
}


@dataclass(frozen=True, slots=True)
class Size:
    items: int
    pages: int  # page (Image) rows, over all items


@dataclass(slots=True)
class Catalogue:
    """What the loader and the measurements need to know of the generated rows."""

    size: Size
    seed: int
    slugs: list[str]
    counts: list[int]  # items per collection
    first_item: list[int]  # index of each collection's first item
    ids: list[str]  # item ids, by index

    def collection_of(self, index: int) -> int:
        """The collection (0-based) of the item at this index."""
        low, high = 0, len(self.first_item) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.first_item[middle] <= index:
                low = middle
            else:
                high = middle - 1
        return low


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w for w, _ in weighted], [n for _, n in weighted])[0]


def plan(size: Size, seed: int) -> Catalogue:
    """How many items each collection holds, and every item's id."""
    rng = random.Random(seed)
    big = int(size.items * BIG_SHARE)
    rest = size.items - big
    counts = [big] + [rest // (COLLECTIONS - 1)] * (COLLECTIONS - 1)
    counts[-1] += size.items - sum(counts)
    first, total = [], 0
    for count in counts:
        first.append(total)
        total += count
    ids = ["".join(rng.choices(ALPHABET, k=12)) for _ in range(size.items)]
    if len(set(ids)) != len(ids):  # 12 letters of 32: never at these sizes, but be sure
        raise SystemExit("item ids collided; try another --seed")
    slugs = [f"bst-{n:02d}" for n in range(COLLECTIONS)]
    return Catalogue(size, seed, slugs, counts, first, ids)


def pages_of(catalogue: Catalogue, index: int) -> int:
    """Pages of the item at this index: 1 to 2·mean−1, averaging pages/items."""
    mean = max(1, catalogue.size.pages // max(1, catalogue.size.items))
    span = 2 * mean - 1
    return 1 + (index * 7919) % span


def collection_rows(catalogue: Catalogue) -> Iterator[tuple[object, ...]]:
    for number, slug in enumerate(catalogue.slugs):
        work = WORKS[number % len(WORKS)][0]
        # Three children under the first collection, for sets and breadcrumbs.
        parent = 1 if 1 <= number <= 3 else None
        yield (
            number + 1,
            slug,
            parent,
            json.dumps(
                {"vi": f"Bộ sưu tập {number:02d}: {work}", "en": f"Collection {number:02d}"}
            ),
            json.dumps({"vi": f"Các tài liệu Hán Nôm và quốc ngữ về {work}."}),
            "open",
            number < 4,  # four featured collections
            "",
            START,
        )


def item_rows(catalogue: Catalogue) -> Iterator[tuple[object, ...]]:
    """Every item, oldest first, each made from a seed of its own index."""
    rng = random.Random(catalogue.seed + 1)
    today = date.today()
    span = (datetime(2026, 1, 1) - START).total_seconds()
    for index, item_id in enumerate(catalogue.ids):
        work, han, languages = WORKS[rng.randrange(len(WORKS))]
        volume = rng.randrange(1, 60)
        title: dict[str, str] = {"vi": f"{work}, quyển {volume}"}
        if han and rng.random() < 0.5:
            numeral = NUMERALS[volume % 10]
            title["lzh"] = f"{han} 卷{numeral}"
            if rng.random() < 0.2:  # a record catalogued only in Hán
                title = {"lzh": title["lzh"]}
        year = rng.randrange(1400, 1946)
        dc = {
            "creator": [{"value": rng.choice(CREATORS), "lang": "vi"}],
            "date": [{"value": f"{year}", "lang": None}],
            "language": [{"value": lang, "lang": None} for lang in languages],
            "type": [{"value": rng.choice(TYPES), "lang": None}],
            "subject": [{"value": rng.choice(SUBJECTS), "lang": "vi"}],
            "identifier": [{"value": f"HN.{index:06d}", "lang": None}],
            "coverage": [{"value": PLACES[index % len(PLACES)], "lang": "vi"}],  # no draw
        }
        level = pick(rng, LEVELS)
        embargo = today + timedelta(days=rng.randrange(30, 3000)) if level == "embargoed" else None
        status = pick(rng, STATUSES)
        created = START + timedelta(seconds=span * index / max(1, len(catalogue.ids)))
        published = created + timedelta(hours=1) if status != "draft" else None
        updated = created + timedelta(days=rng.randrange(0, 400)) if rng.random() < 0.1 else created
        collection = catalogue.collection_of(index) + 1
        yield (
            item_id,
            collection,
            json.dumps(title, ensure_ascii=False),
            json.dumps({"vi": f"Bản chép tay, {rng.randrange(1, 400)} tờ."}, ensure_ascii=False),
            json.dumps(dc, ensure_ascii=False),
            "right-to-left" if "lzh" in languages else "left-to-right",
            "paged",
            "",
            year,
            year + rng.randrange(0, 3),
            "[]",
            "open" if level == "embargoed" else level,
            embargo,
            status,
            "",
            "",
            "",
            created,
            updated,
            published,
            sort_key(sortable_title(title)),
        )


def image_rows(catalogue: Catalogue) -> Iterator[tuple[object, ...]]:
    zero = "0" * 64
    for index, item_id in enumerate(catalogue.ids):
        for position in range(1, pages_of(catalogue, index) + 1):
            image_id = f"{item_id}p{position:04d}"
            yield (
                image_id,
                item_id,
                position,
                f"tờ {position}",
                f"{position:04d}.tif",
                "image/tiff",
                2400,
                3600,
                1,
                zero,
                zero,
                f"masters/{image_id}.tif",
                f"pyramids/{image_id}.tif",
                START,
            )


def term_rows(items: list[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """Each item's subjects, creators and places, as the app writes them (item_term)."""
    dc_at, title_at = COLUMNS["item"].index("dc"), COLUMNS["item"].index("title_sort")
    for row in items:
        for term in item_term_rows(str(row[0]), json.loads(str(row[dc_at])), str(row[title_at])):
            yield tuple(term[column] for column in COLUMNS["item_term"])


def event_rows(
    catalogue: Catalogue, items: list[tuple[object, ...]]
) -> Iterator[tuple[object, ...]]:
    """Create for each collection, then Create (and Update, Delete) as items were published."""
    number = 0
    for slug in catalogue.slugs:
        number += 1
        yield (number, "Create", "Collection", slug, START)
    status_at = COLUMNS["item"].index("status")
    published_at = COLUMNS["item"].index("published_at")
    updated_at = COLUMNS["item"].index("updated_at")
    for row in items:
        if row[published_at] is None:
            continue
        number += 1
        yield (number, "Create", "Manifest", row[0], row[published_at])
        if row[updated_at] != row[COLUMNS["item"].index("created_at")]:
            number += 1
            yield (number, "Update", "Manifest", row[0], row[updated_at])
        if row[status_at] == "withdrawn":
            number += 1
            yield (number, "Delete", "Manifest", row[0], row[updated_at])


def search_documents(
    catalogue: Catalogue, items: list[tuple[object, ...]], batch: int = 1000
) -> Iterator[list[SearchDocument]]:
    """What ``publish.search_document`` makes of each published item, without the ORM."""
    names = COLUMNS["item"]
    at = {name: names.index(name) for name in names}
    documents: list[SearchDocument] = []
    for index, row in enumerate(items):
        if row[at["status"]] != "published":
            continue
        title = json.loads(str(row[at["title"]]))
        dc = json.loads(str(row[at["dc"]]))
        summary = json.loads(str(row[at["summary"]]))
        values = [*summary.values()]
        for entries in dc.values():
            values += [str(entry["value"]) for entry in entries]
        values += [f"tờ {p}" for p in range(1, pages_of(catalogue, index) + 1)]
        documents.append(
            SearchDocument(
                str(row[0]),
                " ".join(t for t in title.values() if t),
                " \n".join(v for v in values if v),
                collection=catalogue.slugs[catalogue.collection_of(index)],
                languages=tuple(e["value"] for e in dc["language"]),
                types=tuple(e["value"] for e in dc["type"]),
                year_start=row[at["year_start"]],  # type: ignore[arg-type]
                year_end=row[at["year_end"]],  # type: ignore[arg-type]
                hidden=row[at["access"]] == "staff",
                embargo_until=row[at["embargo_until"]],  # type: ignore[arg-type]
            )
        )
        if len(documents) >= batch:
            yield documents
            documents = []
    if documents:
        yield documents
