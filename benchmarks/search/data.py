"""Seeded Vietnamese catalogue records and the queries a reader might type against them.

Everything is drawn from one ``random.Random(seed)``, so the same seed gives the same
items and the same queries on every machine.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date

from repository.search import HAN, Filters, SearchDocument, fold

PLACES = (
    "Phú Xuân", "Thăng Long", "Gia Định", "Huế", "Nam Định", "Hà Tiên", "Hà Nội",
    "Hải Dương", "Bắc Ninh", "Thanh Hóa", "Nghệ An", "Quảng Nam", "Quảng Ngãi",
    "Bình Định", "Vĩnh Long", "Định Tường", "An Giang", "Sơn Tây", "Hưng Yên", "Thái Bình",
    "Phố Hiến", "Hội An", "Biên Hòa", "Cao Bằng", "Lạng Sơn", "Tuyên Quang", "Hà Tĩnh",
    "Quảng Trị", "Phú Yên", "Khánh Hòa", "Sài Gòn", "Chợ Lớn", "Mỹ Tho", "Cần Thơ",
)  # fmt: skip
DISTRICTS = (
    "Từ Liêm", "Thanh Trì", "Gia Lâm", "Đông Anh", "Kim Thành", "Văn Giang", "Hoằng Hóa",
    "Quỳnh Lưu", "Diên Phước", "Hương Trà", "Phong Điền", "Bình Dương", "Tân Long",
    "Kiến Xương", "Thạch Thất", "Phúc Thọ", "Đông Sơn", "Yên Thành", "Can Lộc", "Điện Bàn",
)  # fmt: skip
SYLLABLES = (
    "An", "Phú", "Mỹ", "Đông", "Tây", "Hòa", "Bình", "Thạnh", "Long", "Xuân", "Vĩnh", "Tân",
    "Phước", "Hưng", "Lộc", "Thuận", "Trung", "Nghĩa", "Đức", "Quang", "Ngạc", "Lưu",
    "Trạch", "Lâm", "Liên", "Thiện", "Tràng", "Bảng",
)  # fmt: skip
REIGNS = (
    "Gia Long", "Minh Mạng", "Thiệu Trị", "Tự Đức", "Đồng Khánh", "Thành Thái", "Duy Tân",
    "Khải Định", "Bảo Đại", "Cảnh Hưng", "Lê Thánh Tông", "Hồng Đức",
)  # fmt: skip
DYNASTIES = ("Nguyễn", "Lê", "Lý", "Trần", "Hồ", "Mạc", "Tây Sơn", "Lê trung hưng")
SURNAMES = (
    ("Nguyễn", 38), ("Trần", 11), ("Lê", 10), ("Phạm", 7), ("Hoàng", 5), ("Huỳnh", 4),
    ("Phan", 4), ("Vũ", 4), ("Võ", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2),
    ("Ngô", 2), ("Dương", 1), ("Lý", 1), ("Trịnh", 1), ("Đinh", 1), ("Lương", 1), ("Cao", 1),
)  # fmt: skip
MIDDLE = (
    "Văn", "Thị", "Đình", "Hữu", "Đức", "Công", "Quang", "Minh", "Xuân", "Ngọc", "Sĩ",
    "Quý", "Huy", "Khắc", "Bá", "Trọng", "Như", "Thế",
)  # fmt: skip
GIVEN = (
    "An", "Bình", "Chiểu", "Du", "Đôn", "Hải", "Khải", "Lâm", "Long", "Nam", "Phúc",
    "Quang", "Sơn", "Tâm", "Thành", "Trí", "Tuấn", "Việt", "Hương", "Lan", "Mai", "Hoa",
    "Khiêm", "Thuật", "Trực", "Cừ", "Hiến", "Tố", "Uyên", "Nghiêm", "Đạt", "Dũng",
    "Huân", "Kỳ", "Lộc", "Nhạc", "Phương", "Thiệp", "Toại", "Vịnh",
)  # fmt: skip
AUTHORS = (
    "Nguyễn Du", "Nguyễn Đình Chiểu", "Ngô Sĩ Liên", "Lê Quý Đôn", "Phan Huy Chú",
    "Hồ Xuân Hương", "Nguyễn Trãi", "Lê Văn Hưu", "Phạm Đình Hổ", "Trịnh Hoài Đức",
    "Đặng Trần Côn", "Đoàn Thị Điểm", "Cao Bá Quát", "Nguyễn Công Trứ", "Trương Vĩnh Ký",
    "Huỳnh Tịnh Của", "Phan Bội Châu", "Phan Châu Trinh", "Quốc sử quán triều Nguyễn",
    "Nội các triều Nguyễn",
)  # fmt: skip
WORKS = (
    ("Đại Việt sử ký toàn thư", "Ngô Sĩ Liên"),
    ("Truyện Kiều", "Nguyễn Du"),
    ("Lục Vân Tiên", "Nguyễn Đình Chiểu"),
    ("Lịch triều hiến chương loại chí", "Phan Huy Chú"),
    ("Vân đài loại ngữ", "Lê Quý Đôn"),
    ("Kiến văn tiểu lục", "Lê Quý Đôn"),
    ("Thơ Hồ Xuân Hương", "Hồ Xuân Hương"),
    ("Vũ trung tùy bút", "Phạm Đình Hổ"),
    ("Gia Định thành thông chí", "Trịnh Hoài Đức"),
    ("Chinh phụ ngâm", "Đoàn Thị Điểm"),
    ("Đại Nam thực lục", "Quốc sử quán triều Nguyễn"),
    ("Đại Nam nhất thống chí", "Quốc sử quán triều Nguyễn"),
    ("Khâm định Việt sử thông giám cương mục", "Quốc sử quán triều Nguyễn"),
    ("Hoàng Việt luật lệ", "Nội các triều Nguyễn"),
    ("Bình Ngô đại cáo", "Nguyễn Trãi"),
)
# The works' own titles in Hán, and Nôm beyond the basic plane: chữ Nôm (𡨸喃) and the
# first line of Truyện Kiều, "Trăm năm trong cõi người ta".
HAN_TITLES = {
    "Đại Việt sử ký toàn thư": "大越史記全書",
    "Truyện Kiều": "斷腸新聲",
    "Lục Vân Tiên": "蓼雲仙傳",
    "Lịch triều hiến chương loại chí": "歷朝憲章類誌",
    "Vân đài loại ngữ": "芸臺類語",
    "Kiến văn tiểu lục": "見聞小錄",
    "Thơ Hồ Xuân Hương": "春香詩集",
    "Vũ trung tùy bút": "雨中隨筆",
    "Gia Định thành thông chí": "嘉定城通志",
    "Chinh phụ ngâm": "征婦吟曲",
    "Đại Nam thực lục": "大南寔錄",
    "Đại Nam nhất thống chí": "大南一統志",
    "Khâm định Việt sử thông giám cương mục": "欽定越史通鑑綱目",
    "Hoàng Việt luật lệ": "皇越律例",
    "Bình Ngô đại cáo": "平吳大誥",
}
NOM_TITLES = ("\U00021a38喃", "\U00024f93\U000221a5\U00025a9d\U0002139d\U0002029b些")
HAN_SHARE = 0.15  # of the items whose title gets its Hán (or a Nôm) form beside it
_HAN_RUN = re.compile(f"[{HAN}]+")
SUBJECTS = (
    "lịch sử", "địa lý", "văn học", "luật pháp", "ruộng đất", "tôn giáo", "phong tục",
    "thơ Nôm", "chữ Hán", "khoa cử", "thuế khóa", "nông nghiệp", "y học cổ truyền",
    "Phật giáo", "Nho giáo", "thủy lợi", "quan chế", "binh chế", "ngoại giao", "thương mại",
    "tế lễ", "hành chính", "giáo dục", "thiên văn", "âm nhạc cung đình",
)  # fmt: skip
MATERIALS = (
    "giấy dó", "giấy bản", "giấy hoa tiên", "lụa", "giấy Tây", "gỗ thị", "bìa cứng",
)  # fmt: skip
CONDITIONS = (
    "Bìa bị rách, chữ còn đọc được.", "Mối mọt ở lề trang.", "Tình trạng tốt.",
    "Một số tờ bị ố vàng.", "Đã được tu bổ năm 1998.", "Thiếu tờ cuối.",
    "Mực phai ở vài trang.", "Có vết nước ở góc trên.",
)  # fmt: skip
FILLER = (
    "nội dung", "ghi chép", "về", "việc", "của", "các", "làng", "xã", "tổng", "huyện",
    "phủ", "tỉnh", "quan", "dân", "năm", "tháng", "ngày", "trong", "thời", "những", "người",
    "được", "theo", "lệnh", "vua", "triều đình", "bản", "sao", "lại", "từ", "nguyên bản",
    "đất", "ruộng", "công điền", "tư điền", "đình", "chùa", "miếu", "lễ", "hội", "thần",
    "sắc", "phong", "chức", "tước", "quan lại", "sĩ phu", "học trò", "thi", "đỗ", "tiến sĩ",
    "cử nhân", "tú tài", "sông", "núi", "đê", "kênh", "chợ", "thuyền", "buôn bán", "mùa",
    "lúa", "thuế", "đinh", "bạ", "sổ", "đo đạc", "ranh giới", "xứ", "đồng", "cánh",
    "kinh thành", "hoàng cung", "lăng tẩm", "bia đá", "văn tế", "câu đối", "hoành phi",
    "gia tộc", "tộc trưởng", "con cháu", "tổ tiên", "giỗ", "mộ", "nhà thờ họ", "điền thổ",
    "địa chủ", "tá điền", "binh lính", "đồn", "thành", "lũy", "trạm", "dịch", "đường",
    "cầu", "bến", "đò", "phường", "nghề", "gốm", "dệt", "muối", "mắm", "chè", "cau",
    "trầu", "nến", "giấy", "mực", "bút", "sách", "kinh", "truyện", "thơ", "phú", "văn",
    "hịch", "cáo", "chiếu", "biểu", "tấu", "sớ", "tờ trình", "khẩu cung", "án", "kiện",
    "xử", "mất mùa", "lụt", "hạn hán", "cứu đói", "khai hoang", "lập ấp", "di dân",
)  # fmt: skip
COLLECTIONS = (
    "han-nom", "chau-ban", "dia-ba", "huong-uoc", "gia-pha", "ban-do", "anh-xua",
    "sac-phong", "van-bia", "thu-tich-co", "bao-chi", "tai-lieu-phap", "luan-van",
    "sach-hiem", "moc-ban", "thien-van", "y-duoc", "am-nhac", "kien-truc", "tap-chi",
)  # fmt: skip
CALL_PREFIXES = ("R.", "HN.", "A.", "VHv.", "AB.", "VNv.", "NLVNPF-")
TODAY = date(2026, 11, 22)


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def person(rng: random.Random) -> str:
    """A famous author a fifth of the time, else họ + tên đệm + tên."""
    if rng.random() < 0.2:
        return rng.choice(AUTHORS)
    return f"{_weighted(rng, SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def village(rng: random.Random) -> str:
    first, second = rng.sample(SYLLABLES, 2)
    return f"{first} {second}"


def title_and_kind(rng: random.Random, year: int | None) -> tuple[str, str, str, str | None]:
    """(title, collection, type, author or None) from one of the catalogue's usual shapes."""
    shape = rng.randrange(14)
    place, n = rng.choice(PLACES), rng.randint(1, 60)
    if shape == 0:
        work, author = rng.choice(WORKS)
        return f"{work}, quyển {n}", rng.choice(("han-nom", "sach-hiem", "moc-ban")), "Text", author
    if shape == 1:
        return (
            f"Địa bạ làng {village(rng)}, huyện {rng.choice(DISTRICTS)}, {place}",
            "dia-ba", "Manuscript", None,
        )  # fmt: skip
    if shape == 2:
        return f"Châu bản triều {rng.choice(REIGNS)}, tập {n}", "chau-ban", "Manuscript", None
    if shape == 3:
        return f"Hương ước xã {village(rng)}, {place}", "huong-uoc", "Manuscript", None
    if shape == 4:
        family = _weighted(rng, SURNAMES)
        return f"Gia phả họ {family} ở {place}", "gia-pha", "Manuscript", None
    if shape == 5:
        label = rng.choice(("Bản đồ", "Dư đồ", "Họa đồ thành"))
        return f"{label} {place}", "ban-do", "Map", None
    if shape == 6:
        when = f" năm {year}" if year else ""
        return f"Ảnh chụp {place}{when}", "anh-xua", "Image", None
    if shape == 7:
        return (
            f"Sắc phong cho làng {village(rng)}, triều {rng.choice(REIGNS)}",
            "sac-phong",
            ("Manuscript"),
            None,
        )
    if shape == 8:
        return f"Văn bia chùa {village(rng)}, {place}", "van-bia", "Image", None
    if shape == 9:
        return f"Thần tích đình {village(rng)}", "thu-tich-co", "Manuscript", None
    if shape == 10:
        label = rng.choice(("Rapport sur la province de", "Carte de la province de"))
        kind = "Map" if label.startswith("Carte") else "Text"
        return f"{label} {fold(place).title()}", "tai-lieu-phap", kind, None
    if shape == 11:
        return f"{rng.choice(WORKS)[0]} (bản {place})", rng.choice(COLLECTIONS), "Text", None
    if shape == 12:
        topic = rng.choice(SUBJECTS)
        return (
            f"Khảo cứu về {topic} thời {rng.choice(DYNASTIES)}",
            rng.choice(("luan-van", "tap-chi", "bao-chi")),
            "Text",
            None,
        )
    topic = rng.choice(SUBJECTS)
    return (
        f"Sách {topic} {place}",
        rng.choice(COLLECTIONS),
        rng.choice(("Text", "Manuscript")),
        None,
    )


def body_text(rng: random.Random, creator: str, place: str) -> str:
    """30–80 words of metadata values, as publishing joins them: no field labels."""
    target = rng.randint(30, 80)
    call = f"{rng.choice(CALL_PREFIXES)}{rng.randint(1, 9999)}"
    values = [
        creator,
        f"{rng.choice(SUBJECTS)}; {rng.choice(SUBJECTS)}",
        call,
        rng.choice(
            (
                f"Bản chép tay trên {rng.choice(MATERIALS)}, gồm {rng.randint(2, 400)} tờ.",
                f"Mộc bản in năm {rng.choice(REIGNS)} thứ {rng.randint(1, 30)}.",
                f"Bản sao chụp, {rng.randint(2, 400)} trang.",
            )
        ),
        f"Sưu tầm tại {place}" + (f" thời {rng.choice(DYNASTIES)}." if rng.random() < 0.5 else "."),
        rng.choice(CONDITIONS),
    ]
    head = values[:3]
    tail = values[3:]
    rng.shuffle(tail)
    words = " ".join(head + tail).split()
    while len(words) < target:
        length = rng.randint(5, 12)
        phrase = " ".join(rng.choice(FILLER) for _ in range(length))
        words += (phrase[0].upper() + phrase[1:] + ".").split()
    return " ".join(words[:target])


def han_title(rng: random.Random, title: str) -> str:
    """The title with a Hán or Nôm form after it: the work's own, else one of the pool."""
    own = [han for work, han in HAN_TITLES.items() if title.startswith(work)]
    pool = (*HAN_TITLES.values(), *NOM_TITLES)
    return f"{title} {own[0] if own else rng.choice(pool)}"


def documents(count: int, seed: int = 20261122) -> list[SearchDocument]:
    rng = random.Random(seed)
    # Its own stream, so the other records and queries are the same as without Hán titles.
    han = random.Random(seed + 0x4E00)
    docs = []
    for number in range(count):
        year: int | None = rng.randint(1400, 1950) if rng.random() > 0.15 else None
        title, collection, kind, author = title_and_kind(rng, year)
        if han.random() < HAN_SHARE:
            title = han_title(han, title)
        creator = author or person(rng)
        place = rng.choice(PLACES)
        if collection == "tai-lieu-phap":
            languages: tuple[str, ...] = ("fr",) if rng.random() < 0.85 else ("fr", "vi")
        else:
            languages = (rng.choices(("vi", "lzh", "vi-Hani", "en"), weights=(50, 25, 20, 5))[0],)
            if rng.random() < 0.1:
                languages += ("vi",) if languages[0] != "vi" else ("lzh",)
        hidden = rng.random() < 0.02
        embargo = None
        if rng.random() < 0.01:
            embargo = date(rng.randint(2020, 2035), rng.randint(1, 12), rng.randint(1, 28))
        year_end = None
        if year is not None and rng.random() < 0.3:
            year_end = year + rng.randint(1, 40)
        docs.append(
            SearchDocument(
                item_id=f"b{number:06d}",
                title=title,
                text=body_text(rng, creator, place),
                collection=collection,
                languages=languages,
                types=(kind,),
                year_start=year,
                year_end=year_end,
                hidden=hidden,
                embargo_until=embargo,
            )
        )
    return docs


@dataclass(frozen=True)
class Case:
    kind: str  # "word", "phrase", "faceted" or "han"
    text: str  # what the reader typed
    filters: Filters = Filters()


def _folded_words(text: str) -> list[str]:
    """Quốc ngữ words only: Hán runs are asked for by their own kind of query."""
    return re.findall(r"\w+", _HAN_RUN.sub(" ", fold(text)))


def han_query(rng: random.Random, titled: list[SearchDocument]) -> str:
    """2–4 characters that stand together in a Hán or Nôm title, as a reader types them."""
    run = rng.choice(_HAN_RUN.findall(rng.choice(titled).title))
    size = min(len(run), rng.randint(2, 4))
    start = rng.randrange(len(run) - size + 1)
    return run[start : start + size]


def word_query(rng: random.Random, docs: list[SearchDocument], rare: set[str]) -> str:
    """1–3 words without diacritics, as typed into the search box."""
    shape = rng.randrange(6)
    if shape == 0:  # a surname, a place, a reign, a subject
        pool = [s for s, _ in SURNAMES] + list(PLACES) + list(REIGNS) + list(SUBJECTS)
        return fold(rng.choice(pool))
    if shape == 1:  # a creator: surname + given name, or the whole name
        name = _folded_words(rng.choice(AUTHORS) if rng.random() < 0.5 else person(rng))
        return " ".join(name) if rng.random() < 0.5 else f"{name[0]} {name[-1]}"
    if shape == 2:  # words from a known title
        work = _folded_words(rng.choice(WORKS)[0])
        start = rng.randrange(max(1, len(work) - 1))
        return " ".join(work[start : start + rng.randint(1, 3)])
    if shape == 3:  # a kind of record, a place, or both
        kind = rng.choice(("dia ba", "huong uoc", "gia pha", "chau ban", "ban do", "van bia"))
        place = fold(rng.choice(PLACES))
        if rng.random() < 0.3:
            return kind
        return f"{kind} {place}" if " " not in place else place
    # words picked from a random record, so the rarer vocabulary is asked for too; words
    # in more than 5 % of the records ("ban", "cua", "thoi") are left out: nobody types them
    doc = rng.choice(docs)
    words = [w for w in _folded_words(doc.text + " " + doc.title) if w in rare]
    if not words:
        return fold(rng.choice(PLACES))
    return " ".join(rng.sample(words, min(len(words), rng.randint(1, 3))))


def phrase_query(rng: random.Random, docs: list[SearchDocument]) -> str:
    """A phrase in double quotes: a known title or place, or 2–4 words cut from a record."""
    shape = rng.randrange(4)
    if shape == 0:
        return f'"{fold(rng.choice(WORKS)[0])}"'
    if shape == 1:
        label = rng.choice(("lang", "xa", "chua", "trieu", "ho"))
        if label == "trieu":
            return f'"trieu {fold(rng.choice(REIGNS))}"'
        if label == "ho":
            return f'"ho {fold(_weighted(rng, SURNAMES))}"'
        return f'"{label} {fold(village(rng))}"'
    doc = rng.choice(docs)
    words = _folded_words(doc.title if rng.random() < 0.5 else doc.text)
    size = min(len(words), rng.randint(2, 4))
    start = rng.randrange(len(words) - size + 1)
    return '"' + " ".join(words[start : start + size]) + '"'


def faceted_case(rng: random.Random, docs: list[SearchDocument], rare: set[str]) -> Case:
    """A word plus one or two facet choices and/or a year range."""
    text = word_query(rng, docs, rare).split()[0]
    choices: dict[str, tuple[str, ...]] = {}
    for facet in rng.sample(("collection", "language", "type"), rng.randint(0, 2)):
        if facet == "collection":
            choices[facet] = tuple(rng.sample(COLLECTIONS, rng.choice((1, 1, 2))))
        elif facet == "language":
            choices[facet] = (rng.choice(("vi", "lzh", "vi-Hani", "fr", "en")),)
        else:
            choices[facet] = (rng.choice(("Text", "Map", "Image", "Manuscript")),)
    year_from = year_to = None
    if not choices or rng.random() < 0.4:
        year_from = rng.randrange(1400, 1900, 50)
        year_to = year_from + rng.choice((50, 100, 200))
    return Case("faceted", text, Filters(**choices, year_from=year_from, year_to=year_to))


def rare_words(docs: list[SearchDocument], share: float = 0.05) -> set[str]:
    """Folded words found in at most ``share`` of the records (checked on up to 20,000)."""
    sample = docs[:: max(1, len(docs) // 20_000)]
    seen: dict[str, int] = {}
    for doc in sample:
        for word in set(_folded_words(doc.title + " " + doc.text)):
            seen[word] = seen.get(word, 0) + 1
    limit = share * len(sample)
    return {w for w, n in seen.items() if n <= limit and len(w) > 1 and not w[0].isdigit()}


def cases(docs: list[SearchDocument], per_kind: int, seed: int = 7) -> list[Case]:
    """per_kind queries of each kind, in one shuffled order so noise spreads evenly."""
    rng = random.Random(seed)
    rare = rare_words(docs)
    found = [Case("word", word_query(rng, docs, rare)) for _ in range(per_kind)]
    found += [Case("phrase", phrase_query(rng, docs)) for _ in range(per_kind)]
    found += [faceted_case(rng, docs, rare) for _ in range(per_kind)]
    titled = [doc for doc in docs if _HAN_RUN.search(doc.title)]
    if titled:
        found += [Case("han", han_query(rng, titled)) for _ in range(per_kind)]
    rng.shuffle(found)
    return found
