"""Headless Chromium draws chữ Hán and chữ Nôm on our pages with our own Han font.

An item titled with 史 (U+53F2, in the Basic Multilingual Plane) and 𡨸 (U+21A38, chữ
Nôm in CJK Extension B) is opened on its public page. Chromium must draw both with the
web font served from our origin (as Chromium itself reports through the DevTools
protocol), having fetched only the chunks holding them, and neither may look like the
box drawn for code points no font has (U+3A000 and U+3A001, unassigned).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from repository.extensions import db
from repository.han_font import FOLDER, STYLESHEET, build
from repository.models import Collection, Item
from tests.conftest import ARTIFACTS, sample_site
from tests.helpers import draw_grid_image
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

HAN, NOM = "\u53f2", "\U00021a38"  # 史, 𡨸
MISSING = ("\U0003a000", "\U0003a001")  # unassigned: every font lacks them
TITLE = f"Sử ký {HAN}{NOM} (thử phông chữ)"
TITLE_SELECTOR = "aside.metadata h1"  # Mirador has an h1 of its own
CHUNK = re.compile(r"/fonts/han/han-([0-9a-f]{5})-[0-9a-f]{10}\.woff2$")


@pytest.fixture(scope="module")
def han_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The sample site, with a published item titled in Hán and Nôm."""
    if not (FOLDER / STYLESHEET).is_file():  # `make` builds it first; a few minutes
        build()
    root = tmp_path_factory.mktemp("han-font")
    pages = root / "pages"
    pages.mkdir()
    draw_grid_image(600, 800).jpegsave(str(pages / "1.jpg"))
    found: dict[str, str] = {}

    def prepare(runner: FlaskCliRunner, ids: dict[str, str]) -> None:
        result = runner.invoke(
            args=["ingest", str(pages), "--collection", "thu", "--title", TITLE, "--publish"]
        )
        assert result.exit_code == 0, result.output
        with runner.app.app_context():
            found["item"] = db.session.execute(
                db.select(Item.id).join(Collection).where(Collection.slug == "thu")
            ).scalar_one()

    with sample_site(root, prepare=prepare) as served:
        yield {**served, **found}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# How many chunks of our font the page has loaded (they load as text needs them).
LOADED = """(count) => [...document.fonts].filter(
    (face) => face.family.includes("Tang Thu Han") && face.status === "loaded"
).length >= count"""


# Mark the element of Mirador's that shows the title, so DevTools can be asked about it.
MIRADOR_TITLE = """(title) => {
    const found = [...document.querySelectorAll("#mirador *")].find(
        (node) => node.children.length === 0 && node.textContent === title
    );
    if (found) found.id = "mirador-title";
    return Boolean(found);
}"""


def glyph_picture(page: Any, text: str) -> tuple[float, str]:
    """A character drawn alone in the page's own font stack: its width and its pixels."""
    box = page.evaluate(
        """(text) => {
            const probe = document.createElement("span");
            probe.id = "probe";
            probe.textContent = text;
            probe.style.cssText = "font-size:96px;line-height:1;display:inline-block;"
                + "background:#fff;color:#000;padding:4px";
            document.querySelector("aside.metadata h1").after(probe);
            return probe.getBoundingClientRect().width;
        }""",
        text,
    )
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_function("document.fonts.status === 'loaded'")
    ARTIFACTS.mkdir(exist_ok=True)
    picture = page.locator("#probe").screenshot(path=str(ARTIFACTS / f"glyph-{ord(text):x}.png"))
    page.evaluate("document.getElementById('probe').remove()")
    return float(box), hashlib.sha256(picture).hexdigest()


def platform_fonts(page: Any, selector: str) -> list[dict[str, Any]]:
    """The fonts Chromium really used for an element's text (DevTools: CSS domain)."""
    session = page.context.new_cdp_session(page)
    session.send("DOM.enable")
    session.send("CSS.enable")
    root = session.send("DOM.getDocument")["root"]["nodeId"]
    node = session.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts: list[dict[str, Any]] = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})[
        "fonts"
    ]
    session.detach()
    return fonts


def test_han_and_nom_are_drawn_with_our_font(han_site: dict[str, str], browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    fonts: list[tuple[str, int, dict[str, str]]] = []
    page.on(
        "response",
        lambda r: (
            fonts.append((r.url, r.status, r.headers))
            if r.request.resource_type == "font"
            else None
        ),
    )
    answer = page.goto(f"{han_site['web']}/items/{han_site['item']}")
    assert answer is not None and answer.status == 200
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "font-src" not in policy.replace(
        "font-src 'self'", ""
    )
    page.wait_for_selector(TITLE_SELECTOR)
    assert page.inner_text(TITLE_SELECTOR) == TITLE
    page.wait_for_function(LOADED, arg=2, timeout=20_000)

    used = platform_fonts(page, TITLE_SELECTOR)
    ours = [f for f in used if f["isCustomFont"]]
    assert ours and ours[0]["glyphCount"] >= 2, used  # 史 and 𡨸 came from a web font

    # Every font came from our origin, long-cached; only the chunks for 史 and 𡨸 (and
    # none for the Latin letters the page's own fonts have) were fetched.
    assert fonts, "no font was fetched"
    for url, status, headers in fonts:
        assert url.startswith(han_site["web"] + "/fonts/han/"), url
        assert status == 200 and "immutable" in headers["cache-control"]
    chunks = {int(CHUNK.search(url).group(1), 16) for url, _, _ in fonts}  # type: ignore[union-attr]
    assert {ord(HAN) // 256 * 256, ord(NOM) // 256 * 256} <= chunks

    # Neither is the box of a missing glyph: the two unassigned code points draw the same
    # box, of one width; 史 and 𡨸 draw pictures of their own, unlike it and each other.
    tofu = [glyph_picture(page, ch) for ch in MISSING]
    assert tofu[0] == tofu[1], "the missing-glyph box should not depend on the code point"
    han, nom = glyph_picture(page, HAN), glyph_picture(page, NOM)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "han-font.png"))
    assert han[1] != tofu[0][1] and nom[1] != tofu[0][1], "drawn as a missing-glyph box"
    assert han[1] != nom[1]
    assert abs(han[0] - nom[0]) < 2, "Han characters are all one em wide"

    # Mirador's own panels (its window title is the manifest's label) use it too.
    page.wait_for_function(MIRADOR_TITLE, arg=TITLE, timeout=30_000)
    page.wait_for_function(LOADED, arg=2)
    in_mirador = platform_fonts(page, "#mirador-title")
    family = page.evaluate("getComputedStyle(document.getElementById('mirador-title')).fontFamily")
    assert any(f["isCustomFont"] and f["glyphCount"] >= 2 for f in in_mirador), (in_mirador, family)
    page.close()


def test_font_files_are_refused_outside_their_folder(han_site: dict[str, str]) -> None:
    import requests

    css = requests.get(f"{han_site['web']}/fonts/han/han.css", timeout=10)
    assert css.status_code == 200 and "unicode-range" in css.text
    assert "max-age=3600" in css.headers["Cache-Control"]
    for path in ("/fonts/han/../han_font.py", "/fonts/han/%2e%2e/han_font.py", "/fonts/han/x"):
        assert requests.get(han_site["web"] + path, timeout=10).status_code == 404


def test_every_page_kind_links_the_font(han_site: dict[str, str]) -> None:
    import requests

    manifest = f"{han_site['web']}/iiif/{han_site['item']}/manifest"
    for path in ("/", f"/items/{han_site['item']}", "/viewer/embed", "/viewer/clover"):
        html = requests.get(han_site["web"] + path, params={"manifest": manifest}, timeout=10).text
        assert 'href="/fonts/han/han.css"' in html, path
        assert "han-text.css" in html, path
    assert Path(FOLDER / "LICENSE.txt").is_file()
