"""Keep HTML in IIIF values to the spec's safe subset, so no script reaches a viewer.

Presentation 3.0 §4.4: a value that starts with '<' and ends with '>' may be HTML,
limited to a, b, br, i, img, p, small, span, sub and sup, with href, src and alt.
Anything else a client would take for HTML is cleaned; plain text is left alone.
"""

from __future__ import annotations

import nh3

from .records import LanguageMap

SAFE_TAGS = {"a", "b", "br", "i", "img", "p", "small", "span", "sub", "sup"}
SAFE_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}}
SAFE_SCHEMES = {"http", "https", "mailto"}


def clean_value(value: str) -> str:
    text = value.strip()
    if not (text.startswith("<") and text.endswith(">")):
        return value
    cleaned = nh3.clean(
        text, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES, url_schemes=SAFE_SCHEMES, link_rel=None
    )
    # Still HTML-shaped after cleaning, so clients keep treating it as HTML.
    return cleaned if cleaned.startswith("<") else f"<span>{cleaned}</span>"


def clean_map(values: LanguageMap) -> LanguageMap:
    return {lang: [clean_value(v) for v in texts] for lang, texts in values.items()}
