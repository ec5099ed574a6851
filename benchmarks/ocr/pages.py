"""Test pages of vertical Hán and chữ Nôm: real text, drawn with a real font, in columns
read right to left, with the box of every character known.

The texts are public domain, typed in here as reading texts (not collated editions),
without punctuation as the woodblocks have them: the Analects (論語, 學而), the first
reign of the Complete Annals of Đại Việt (大越史記全書, 外紀 卷一, 鴻厖氏紀), the Great
Learning (大學), the Thousand Character Classic (千字文), and a page of chữ Nôm: lines
from the opening of Truyện Kiều and the Nôm numerals, many of whose characters lie in
CJK Extension B, outside what Tesseract's Chinese models know.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyvips

FONTS = (  # file, family
    (Path("/usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf"), "BabelStone Han"),
    (Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"), "Noto Serif CJK TC"),
)
PAPER = [246, 241, 228]
INK = [25, 20, 15]

ANALECTS = (
    "子曰學而時習之不亦說乎有朋自遠方來不亦樂乎人不知而不慍不亦君子乎"
    "有子曰其為人也孝弟而好犯上者鮮矣不好犯上而好作亂者未之有也君子務本本立而道生"
    "孝弟也者其為仁之本與子曰巧言令色鮮矣仁曾子曰吾日三省吾身為人謀而不忠乎"
    "與朋友交而不信乎傳不習乎子曰道千乘之國敬事而信節用而愛人使民以時"
    "子曰弟子入則孝出則弟謹而信汎愛眾而親仁行有餘力則以學文"
    "子夏曰賢賢易色事父母能竭其力事君能致其身與朋友交言而有信雖曰未學吾必謂之學矣"
    "子曰君子不重則不威學則不固主忠信無友不如己者過則勿憚改曾子曰慎終追遠民德歸厚矣"
)
ANNALS = (
    "涇陽王諱祿續神農氏之後也初炎帝神農氏三世孫帝明生帝宜既而南巡至五嶺得婺僊之女"
    "納而歸生王王聖智聰明帝明奇之欲使嗣位王固辭讓其兄不敢奉命帝明於是立帝宜為嗣"
    "治北地封王為涇陽王治南方號赤鬼國王娶洞庭君龍王女曰神龍生貉龍君"
)
GREAT_LEARNING = (
    "大學之道在明明德在親民在止於至善知止而後有定定而後能靜靜而後能安安而後能慮"
    "慮而後能得物有本末事有終始知所先後則近道矣古之欲明明德於天下者先治其國"
    "欲治其國者先齊其家欲齊其家者先脩其身欲脩其身者先正其心"
)
THOUSAND = (
    "天地玄黃宇宙洪荒日月盈昃辰宿列張寒來暑往秋收冬藏閏餘成歲律呂調陽雲騰致雨"
    "露結為霜金生麗水玉出崑岡劍號巨闕珠稱夜光果珍李柰菜重芥薑海鹹河淡鱗潛羽翔"
    "龍師火帝鳥官人皇始制文字乃服衣裳推位讓國有虞陶唐弔民伐罪周發殷湯坐朝問道"
)
NOM = "𤾓𢆥𥪝𡎝𠊛些𡨸才𡨸命窖羅恄饒仍調𥉩𧡊麻疸疼𢚸𠬠𠄩𠀧𦊚𠄼𦒹𦉱𠔭𠃩𨑮𤾓𠦳大越史記全書𡨸漢𡨸喃"


@dataclass(frozen=True, slots=True)
class VerticalPage:
    """A drawn page, its columns right to left, and each character's cell in pixels."""

    image: pyvips.Image
    columns: tuple[str, ...]
    cells: tuple[tuple[int, int, int, int], ...]  # x, y, w, h, in reading order

    @property
    def text(self) -> str:
        return "".join(self.columns)


def font() -> tuple[Path, str]:
    """The first CJK font installed, and its family; make test installs BabelStone Han."""
    for path, family in FONTS:
        if path.exists():
            return path, family
    raise FileNotFoundError("no CJK font: install fonts-babelstone-han (make test does)")


def draw_vertical_page(
    text: str, rows: int = 16, columns: int = 8, cell: int = 80, gutter: float = 0.5
) -> VerticalPage:
    """Up to ``rows × columns`` characters of the text, in columns from the right edge,
    each character centred in a square cell; columns stand ``gutter`` cells apart."""
    path, family = font()
    margin, pitch = 2 * cell, round(cell * (1 + gutter))
    split = tuple(text[i : i + rows] for i in range(0, min(len(text), rows * columns), rows))
    width, height = 2 * margin + len(split) * pitch, 2 * margin + rows * cell
    page = (pyvips.Image.black(width, height, bands=3) + PAPER).cast("uchar")
    page = page.copy(interpretation="srgb")
    size = cell * 0.8 * 72 / 300  # points at 300 dpi: the glyph fills 80% of its cell
    cells = []
    for number, column in enumerate(split):
        x = width - margin - (number + 1) * pitch + (pitch - cell) // 2
        for row, character in enumerate(column):
            y = margin + row * cell
            glyph = pyvips.Image.text(
                character, fontfile=str(path), font=f"{family} {size:.1f}", dpi=300
            )
            left, top = x + (cell - glyph.width) // 2, y + (cell - glyph.height) // 2
            page = page.draw_mask(INK, glyph, left, top)
            cells.append((x, y, cell, cell))
    return VerticalPage(page, split, tuple(cells))


def is_nom(character: str) -> bool:
    """Outside what the Chinese models were trained on: CJK Extension B and beyond,
    where chữ Nôm's own characters are encoded."""
    return ord(character) >= 0x20000


TEXTS = {
    "analects-1": ANALECTS[:128],
    "analects-2": ANALECTS[128:256],
    "annals": ANNALS,
    "great-learning": GREAT_LEARNING,
    "thousand-characters": THOUSAND,
    "nom": NOM,
}
