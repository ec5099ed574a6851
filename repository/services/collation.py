"""Vietnamese alphabetical order, as a key that sorts as plain text in any database.

The letters are a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y (f, j, w and z
of foreign words in their Latin places); a word ends before any letter follows, so "an" <
"an bình" < "anh". Tones are a secondary difference, in the dictionaries' order: none,
huyền, hỏi, ngã, sắc, nặng ("ma" < "mà" < "mả" < "mã" < "má" < "mạ"), weighed only
between titles whose letters are the same. Case is ignored. Digits come before letters,
other scripts after Latin, and Han characters (Hán and chữ Nôm) last, by code point.

The key holds only 0-9 and a-z, so SQLite's binary order and any PostgreSQL collation
agree on it, and an index on it serves ``ORDER BY``.
"""

from __future__ import annotations

import re
import unicodedata

LETTERS = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
DIGITS36 = "0123456789abcdefghijklmnopqrstuvwxyz"
LENGTH = 64  # characters of the title that the key orders by
MAX_KEY = 64 * 6 + 2  # the longest key: Han characters (5 + 1 tone digit each), the end mark
END = "00"  # after the last letter: lower than any letter or a space
SPACE = "01"  # between words: lower than any letter, so a shorter word sorts first
TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
# A letter and a vowel mark, decomposed: ă â ê ô ơ ư.
MARKED = {
    ("a", "\u0306"): "ă",
    ("a", "\u0302"): "â",
    ("e", "\u0302"): "ê",
    ("o", "\u0302"): "ô",
    ("o", "\u031b"): "ơ",
    ("u", "\u031b"): "ư",
}
HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af]")
_LETTER_CODES = {letter: f"2{DIGITS36[n]}" for n, letter in enumerate(LETTERS)}


def _base36(number: int, width: int) -> str:
    digits = ""
    for _ in range(width):
        number, rest = divmod(number, 36)
        digits = DIGITS36[rest] + digits
    return digits


def _units(text: str) -> list[tuple[str, int]]:
    """Each character with its marks folded in: (letter or character, tone)."""
    units: list[tuple[str, int]] = []
    for char in unicodedata.normalize("NFD", text.lower()):
        if unicodedata.combining(char) and units:
            letter, tone = units[-1]
            if char in TONES:
                units[-1] = (letter, TONES[char])
            elif (letter, char) in MARKED:
                units[-1] = (MARKED[letter, char], tone)
            continue  # any other mark does not order
        units.append((char, 0))
    return units


def _primary(char: str) -> str:
    """The code of one character: digits, then letters, then other scripts, then Han."""
    if char in _LETTER_CODES:
        return _LETTER_CODES[char]
    if "0" <= char <= "9":
        return f"1{char}"
    if HAN.match(char):
        return "z" + _base36(ord(char), 4)
    return "y" + _base36(ord(char), 4)


def sort_key(text: str) -> str:
    """The key that puts titles in Vietnamese order; see the module's docstring."""
    primary: list[str] = []
    tones: list[str] = []
    spaced = True  # no space before the first word
    for char, tone in _units(text)[: LENGTH * 2]:
        if not (char.isalnum() or HAN.match(char)):
            if not spaced:
                primary.append(SPACE)
                spaced = True
            continue
        primary.append(_primary(char))
        tones.append(str(tone))
        spaced = False
        if len(tones) >= LENGTH:
            break
    if primary and primary[-1] == SPACE:
        primary.pop()
    return "".join(primary) + END + "".join(tones)
