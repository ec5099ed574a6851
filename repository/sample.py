"""Draw a small sample collection: 'manuscript' pages with visible page numbers, a printed
Quốc ngữ book, and a Hán-Nôm book in vertical columns drawn with the Han font."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyvips

from .han_font import SOURCE as HAN_FONT


@dataclass(frozen=True, slots=True)
class SampleBook:
    folder: str
    title: dict[str, str]
    summary: dict[str, str]
    pages: int
    viewing_direction: str
    access: str = "open"
    text: tuple[str, ...] = ()  # printed pages, one text each, to be read by OCR
    ocr_languages: str = ""
    vertical: bool = False  # the text in columns, read top to bottom and right to left


BOOKS: tuple[SampleBook, ...] = (
    SampleBook(
        folder="truyen-kieu",
        title={"vi": "Đoạn trường tân thanh (bản mẫu)", "en": "The Tale of Kiều (sample)"},
        summary={
            "vi": "Bản Nôm mẫu, đọc từ phải sang trái.",
            "en": "A sample Nôm book, read from right to left.",
        },
        pages=6,
        viewing_direction="right-to-left",
    ),
    SampleBook(
        folder="dia-ba",
        title={
            "vi": "Địa bạ làng Phú Xuân (bản mẫu)",
            "en": "Phú Xuân village land register (sample)",
        },
        summary={
            "vi": "Sổ địa bạ mẫu, đọc từ trái sang phải.",
            "en": "A sample land register, read from left to right.",
        },
        pages=4,
        viewing_direction="left-to-right",
    ),
    SampleBook(
        folder="chau-ban",
        title={
            "vi": "Châu bản triều Nguyễn (bản mẫu, hạn chế)",
            "en": "Nguyễn dynasty imperial records (sample, restricted)",
        },
        summary={
            "vi": "Tài liệu hạn chế: đăng nhập để xem ảnh.",
            "en": "Restricted material: sign in to see the images.",
        },
        pages=3,
        viewing_direction="top-to-bottom",
        access="restricted",
    ),
    SampleBook(
        folder="luc-van-tien",
        title={
            "vi": "Lục Vân Tiên, bản in quốc ngữ (bản mẫu)",
            "en": "Lục Vân Tiên, printed in Quốc ngữ (sample)",
        },
        summary={
            "vi": "Bản in mẫu có nhận dạng chữ: tìm một từ ngay trong sách.",
            "en": "A printed sample with recognised text: search for a word inside the book.",
        },
        pages=2,
        viewing_direction="left-to-right",
        # The opening of Nguyễn Đình Chiểu's poem (19th century, public domain).
        text=(
            "Trước đèn xem truyện Tây Minh\nGẫm cười hai chữ nhân tình éo le\n"
            "Hỡi ai lẳng lặng mà nghe\nDữ răn việc trước, lành dè thân sau",
            "Trai thời trung hiếu làm đầu\nGái thời tiết hạnh là câu trau mình\n"
            "Nguyễn Đình Chiểu soạn\nVăn tế nghĩa sĩ Cần Giuộc",
        ),
        ocr_languages="vie",
    ),
)


# The Thousand Character Classic (千字文, 6th century, public domain), set as a woodblock
# page sets it: twelve characters a column, a new column at each line break.
THOUSAND = (
    "天地玄黃宇宙洪荒日月盈昃辰宿列張寒來暑往秋收冬藏閏餘成歲律呂調陽雲騰致雨露結為霜"
    "金生麗水玉出崑岡劍號巨闕珠稱夜光果珍李柰菜重芥薑海鹹河淡鱗潛羽翔龍師火帝鳥官人皇"
    "始制文字乃服衣裳推位讓國有虞陶唐弔民伐罪周發殷湯坐朝問道垂拱平章愛育黎首臣伏戎羌"
)
# Words in chữ Nôm (CJK Extension B and beyond), which a Hán model cannot know: chữ, nôm,
# người, Việt, trời, đất, ngày, ba, bốn, năm, sáu.
NOM = "𡨸喃𠊛越𡗶𡐙𣈜𠀧𦊚𠄼𦒹"


def columns(text: str, per_column: int = 12) -> str:
    return "\n".join(text[i : i + per_column] for i in range(0, len(text), per_column))


HAN_NOM_BOOK = SampleBook(
    folder="dai-viet-su-ky",
    title={
        "vi": "Đại Việt sử ký toàn thư (bản mẫu chữ Hán)",
        "lzh": "大越史記全書",
        "en": "Complete Annals of Đại Việt (sample in Hán script)",
    },
    summary={
        "vi": "Bản mẫu chữ Hán và chữ Nôm, viết dọc, đọc từ phải sang trái.",
        "en": "A sample in Hán and Nôm characters, in columns read from right to left.",
    },
    pages=2,
    viewing_direction="right-to-left",
    text=(
        "大越史記全書\n" + columns(THOUSAND[:72]),
        columns(THOUSAND[72:]) + "\n" + NOM,
    ),
    ocr_languages="chi_tra_vert",
    vertical=True,
)

BOOKS = (*BOOKS, HAN_NOM_BOOK)


def draw_vertical_page(text: str, width: int = 1700, height: int = 2300) -> pyvips.Image:
    """A woodblock page: each line of ``text`` a column, the first on the right, drawn
    with BabelStone Han (it has the chữ Nôm of CJK Extension B that other fonts lack)."""
    paper = (pyvips.Image.black(width, height, bands=3) + [240, 230, 205]).cast("uchar")
    page = paper.copy(interpretation="srgb")
    ink = [30, 22, 16]
    lines = text.split("\n")
    pitch = (width - 240) // max(8, len(lines))
    page = page.draw_rect(ink, 90, 90, width - 180, height - 180, fill=False)
    for index, column in enumerate(lines):
        glyphs = pyvips.Image.text(
            "\n".join(column),
            font="BabelStone Han 44",
            fontfile=str(HAN_FONT),
            dpi=150,
            spacing=18,
            align="centre",
        )
        x = width - 120 - (index + 1) * pitch + (pitch - glyphs.width) // 2
        page = page.draw_mask(ink, glyphs, x, 150)
    return page


def draw_page(number: int, heading: str, width: int = 2000, height: int = 2800) -> pyvips.Image:
    """A parchment page with ruled columns, a heading and a large page number."""
    noise = pyvips.Image.gaussnoise(width // 8, height // 8, sigma=6, mean=0).resize(8)
    paper = (noise + [236, 222, 190]).cast("uchar").copy(interpretation="srgb")
    margin = width // 12
    ink = [70, 45, 30]
    page = paper.draw_rect(ink, margin, margin, width - 2 * margin, height - 2 * margin, fill=False)
    column = (width - 2 * margin) // 10
    for x in range(margin + column, width - margin, column):
        page = page.draw_line(ink, x, margin, x, height - margin)
        for row, y in enumerate(range(margin + 150, height - margin - 100, 150)):
            glyph = column // 2 - (row * 7 + x) % 30  # uneven, like brush strokes
            page = page.draw_rect(
                [120, 90, 65], x - column // 2 - glyph // 2, y, glyph, 80, fill=True
            )
    label = pyvips.Image.text(f"<b>{number}</b>", dpi=1200, font="sans")
    heading_text = pyvips.Image.text(heading, dpi=300, font="serif", width=width - 4 * margin)
    box_w, box_h = label.width + 120, label.height + 120
    x0, y0 = (width - box_w) // 2, (height - box_h) // 2
    page = page.draw_rect([250, 245, 235], x0, y0, box_w, box_h, fill=True)
    page = page.draw_mask([160, 20, 20], label, x0 + 60, y0 + 60)
    return page.draw_mask(ink, heading_text, 2 * margin, margin // 3)


def draw_printed_page(text: str, width: int = 1700, height: int = 2200) -> pyvips.Image:
    """A printed page: black serif lines on paper, as Tesseract meets them in a scan."""
    paper = pyvips.Image.black(width, height, bands=3) + [246, 241, 228]
    lines = pyvips.Image.text(text, dpi=300, font="DejaVu Serif 14", width=width - 400, spacing=30)
    page = paper.cast("uchar").copy(interpretation="srgb")
    return page.draw_mask([25, 20, 15], lines, 200, 300)


def write_book(book: SampleBook, root: Path) -> Path:
    folder = root / book.folder
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, book.pages + 1):
        target = folder / f"tờ {number}.jpg"
        if not target.exists():
            if book.vertical:
                page = draw_vertical_page(book.text[number - 1])
            elif book.text:
                page = draw_printed_page(book.text[number - 1])
            else:
                page = draw_page(number, book.title["vi"])
            page.jpegsave(str(target), Q=88)
    return folder
