"""The whole access matrix, through the real apps: every level, status and embargo, crossed
with every kind of viewer, on every path that can carry an item's pixels, words or id.

The expected answer of each cell comes from the table in ARCHITECTURE.md, written out
here (`expected`), never from the code under test. Items are ingested for real (one page
each, with recognised text), published and withdrawn through the services, and asked for
through the repository's Flask app and the image server's WSGI app, with the viewers'
real cookies and client addresses.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import pyvips
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import Client

import image_server
from repository import create_app, get_storage
from repository.extensions import db
from repository.models import Collection, Image, Item, PageText, ReaderGroup, User
from repository.services.accounts import NewUser, create_user
from repository.services.ingest import ItemDraft, PageFile, ingest_item
from repository.services.publish import publish_item, withdraw_item
from repository.web import ingest_settings, publish_settings
from tests.helpers import draw_grid_image, sign_in

EDGE = 300  # the degraded edge: every page is 800-odd px wide
INSIDE, OUTSIDE = "10.8.1.20", "203.0.113.50"

LEVELS = ("open", "degraded", "restricted", "restricted-group", "onsite", "staff")
STATUSES = ("draft", "published", "withdrawn")
EMBARGOES = (False, True)
VIEWERS = ("anonymous", "reader", "member", "other-group", "onsite", "onsite-replayed", "curator")
SIGNED_IN = {
    "reader": "docgia",
    "member": "thanhvien",
    "other-group": "khac",
    "curator": "thuthu",
}


@dataclass(frozen=True)
class Case:
    level: str
    status: str
    embargo: bool

    @property
    def word(self) -> str:
        """A word found only in this item's title and page text."""
        code = f"{LEVELS.index(self.level)}{STATUSES.index(self.status)}{int(self.embargo)}"
        return "matran" + "".join("abcdefghij"[int(c)] for c in code)


CASES = [
    Case(level, status, embargo) for level in LEVELS for status in STATUSES for embargo in EMBARGOES
]


def expected(case: Case, viewer: str) -> str:
    """The design's table: what this viewer gets of this item's images.

    'hidden' (the item does not exist: 404 everywhere), 'none' (metadata only),
    'degraded' (up to EDGE px) or 'full'."""
    if viewer == "curator":
        return "full"
    if case.status != "published" or case.embargo or case.level == "staff":
        return "hidden"
    signed_in = viewer in ("reader", "member", "other-group")
    return {
        "open": "full",
        "degraded": "full" if signed_in else "degraded",
        "restricted": "full" if signed_in else "none",  # a collection without reader groups
        "restricted-group": "full" if viewer == "member" else "none",
        "onsite": "full" if viewer == "onsite" else "none",
    }[case.level]


def publicly_listed(case: Case) -> bool:
    """Sitemap, open data: what the public may see now."""
    return case.status == "published" and not case.embargo and case.level != "staff"


def publicly_known(case: Case) -> str:
    """OAI-PMH and Discovery: 'record', 'deleted' (withdrawn once public) or 'none'."""
    if publicly_listed(case):
        return "record"
    if case.status == "withdrawn" and not case.embargo and case.level != "staff":
        return "deleted"
    return "none"


@dataclass
class World:
    app: Flask
    images: Client
    items: dict[Case, tuple[str, str]]  # item id, image id
    clients: dict[str, FlaskClient]
    width: dict[Case, int]

    def client(self, viewer: str) -> FlaskClient:
        return self.clients[viewer]

    def address(self, viewer: str) -> str:
        return INSIDE if viewer == "onsite" else OUTSIDE

    def web(self, viewer: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        return self.client(viewer).open(
            path, method=method, environ_base={"REMOTE_ADDR": self.address(viewer)}, **kwargs
        )

    def image(self, viewer: str, path: str, method: str = "GET", **headers: str) -> Any:
        """A request to the image server with this viewer's cookies and address."""
        jar = self.client(viewer)
        cookies = "; ".join(
            f"{c.key}={c.value}"
            for c in jar._cookies.values()  # noqa: SLF001
        )
        if cookies:
            headers["Cookie"] = cookies
        return self.images.open(
            path, method=method, headers=headers, environ_base={"REMOTE_ADDR": self.address(viewer)}
        )


def _page_text(item: Item, image: Image, word: str) -> None:
    words = [[word, 10, 20, 200, 40, 0], ["trang", 220, 20, 100, 40, 0]]
    alto = f'<?xml version="1.0"?><alto><String CONTENT="{word}"/></alto>'.encode()
    key = f"ocr/{image.id}.alto.xml"
    get_storage().put_bytes(key, alto)
    db.session.add(
        PageText(
            image_id=image.id,
            item_id=item.id,
            languages="vie",
            status="done",
            text=f"{word} trang",
            words=words,
            alto_key=key,
        )
    )
    db.session.commit()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("matrix")
    instance = root / "instance"
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "TESTING": True,
            "SECRET_KEY": "matrix-test-only-key-0123456789-abcdefghijklmnop",
            "SESSION_COOKIE_SECURE": False,
            "WTF_CSRF_ENABLED": True,
            "DEGRADED_EDGE": EDGE,
            "ONSITE_RANGES": "10.8.0.0/16",
        }
    )
    pages = root / "pages"
    pages.mkdir()
    items: dict[Case, tuple[str, str]] = {}
    widths: dict[Case, int] = {}
    with app.app_context():
        db.create_all()
        for name in ("han-nom", "dia-ba"):
            db.session.add(ReaderGroup(name=name, label={"vi": name}))
        db.session.commit()
        groups = {g.name: g for g in db.session.execute(db.select(ReaderGroup)).scalars()}
        db.session.add(Collection(slug="mo", title={"vi": "Mở"}))
        db.session.add(Collection(slug="nhom", title={"vi": "Nhóm"}, groups=[groups["han-nom"]]))
        db.session.commit()
        for username, role in (
            ("docgia", "reader"),
            ("thanhvien", "reader"),
            ("khac", "reader"),
            ("thuthu", "curator"),
        ):
            create_user(NewUser(username, f"mat-khau-{username}", role))
        users = {u.username: u for u in db.session.execute(db.select(User)).scalars()}
        users["thanhvien"].groups = [groups["han-nom"]]
        users["khac"].groups = [groups["dia-ba"]]
        db.session.commit()
        storage, settings = get_storage(), publish_settings()
        for number, case in enumerate(CASES):
            width = 800 + number
            path = pages / f"{number}.jpg"
            draw_grid_image(width, 600).jpegsave(str(path), Q=90)
            level = "restricted" if case.level == "restricted-group" else case.level
            draft = ItemDraft(
                collection_slug="nhom" if case.level == "restricted-group" else "mo",
                title={"vi": f"Sách {case.word}"},
                pages=(PageFile(path, f"{number}.jpg"),),
                access=level,
                dc={"subject": [{"value": "Ma trận", "lang": "vi"}]},  # one term: browsing
            )
            item = ingest_item(draft, storage, ingest_settings()).item
            item.year_start = 1800  # one century: browsing by date
            image = item.images[0]
            _page_text(item, image, case.word)
            if case.embargo:
                item.embargo_until = date.today() + timedelta(days=30)
            if case.status in ("published", "withdrawn"):
                publish_item(item, storage, settings)
            if case.status == "withdrawn":
                withdraw_item(item, storage, settings)
            db.session.commit()
            items[case] = (item.id, image.id)
            widths[case] = width
    images = Client(
        image_server.create_app(
            {
                "STORAGE_URL": (instance / "storage").as_uri(),
                "VIPS_LOCKDOWN": False,
                "ACCESS_TOKEN_KEYS": app.config["ACCESS_TOKEN_KEYS"],
                "DERIVATIVE_CACHE_DIR": str(root / "derivatives"),
                "ONSITE_RANGES": "10.8.0.0/16",
                "PUBLIC_URL": app.config["PUBLIC_URL"],
                "IMAGE_URL": app.config["IMAGE_URL"],
            }
        ),
        use_cookies=False,
    )
    clients: dict[str, FlaskClient] = {}
    for viewer in VIEWERS:
        client = app.test_client()
        if viewer in SIGNED_IN:
            name = SIGNED_IN[viewer]
            sign_in(client, name, f"mat-khau-{name}")
        clients[viewer] = client
    # The reading room's visitor: everything the site hands out inside, then taken outside.
    replayed = clients["onsite-replayed"]
    inside = {"REMOTE_ADDR": INSIDE}
    for path in ("/", "/auth/iiif/kiosk", "/auth/iiif/external", "/auth/iiif/token"):
        replayed.get(path, environ_base=inside)
    for item_id, _ in items.values():
        replayed.get(f"/items/{item_id}", environ_base=inside)
    yield World(app, images, items, clients, widths)


def pixels(response: Any) -> tuple[int, int]:
    picture = pyvips.Image.new_from_buffer(response.data, "")
    return picture.width, picture.height


CELLS = [
    pytest.param(
        case,
        viewer,
        id=f"{case.level}-{case.status}-{'embargo' if case.embargo else 'free'}-{viewer}",
    )
    for case in CASES
    for viewer in VIEWERS
]


@pytest.mark.parametrize(("case", "viewer"), CELLS)
def test_image_server(world: World, case: Case, viewer: str) -> None:
    """info.json, tiles, full/max, pct:, upscale, 2.1 and 3.0, HEAD, 304, warmed caches."""
    _, image_id = world.items[case]
    grant = expected(case, viewer)
    width = world.width[case]
    refused = {"hidden": 404, "none": 401}
    base3, base2 = f"/iiif/3/{image_id}", f"/iiif/2/{image_id}"
    # The caches are warmed first by the curator (full) and by anonymous (degraded).
    for warm in ("curator", "anonymous"):
        for path in ("/full/max/0/default.jpg", "/pct:0,0,50,50/max/0/default.jpg"):
            world.image(warm, base3 + path)
    for version, base in (("3", base3), ("2", base2)):
        info = world.image(viewer, f"{base}/info.json")
        if grant == "hidden":
            assert info.status_code == 404
        elif grant == "none":
            assert info.status_code == 401 and info.get_json()["sizes"] == []
        else:
            assert info.status_code == 200
            largest = max(max(s["width"], s["height"]) for s in info.get_json()["sizes"])
            assert largest <= (EDGE if grant == "degraded" else width), version
    whole = world.image(viewer, f"{base3}/full/max/0/default.jpg")
    head = world.image(viewer, f"{base3}/full/max/0/default.jpg", method="HEAD")
    assert head.status_code == whole.status_code
    if grant in refused:
        assert whole.status_code == refused[grant]
    else:
        assert whole.status_code == 200
        assert max(pixels(whole)) == (EDGE if grant == "degraded" else width)
    part = world.image(viewer, f"{base3}/pct:0,0,50,50/max/0/default.jpg")
    if grant in refused:
        assert part.status_code == refused[grant]
    else:
        assert pixels(part)[0] <= (EDGE // 2 + 1 if grant == "degraded" else width // 2 + 1)
    full_only = (
        f"{base3}/0,0,256,256/256,256/0/default.jpg",
        f"{base3}/full/^{2 * width},/0/default.jpg",
        f"{base2}/full/full/0/default.jpg",
        f"{base2}/0,0,256,256/256,/0/default.jpg",
    )
    for path in full_only:
        answer = world.image(viewer, path)
        status = {"hidden": 404, "none": 401, "degraded": 401, "full": 200}[grant]
        assert answer.status_code == status, path
    # An ETag handed to the curator never turns into a 304 for someone with less.
    curators = world.image("curator", f"{base3}/full/max/0/default.jpg")
    again = world.image(
        viewer, f"{base3}/full/max/0/default.jpg", **{"If-None-Match": curators.headers["ETag"]}
    )
    assert again.status_code == (304 if grant == "full" else whole.status_code)


def _listed(body: str, item_id: str) -> bool:
    return item_id in body


@pytest.mark.parametrize(("case", "viewer"), CELLS)
def test_repository(world: World, case: Case, viewer: str) -> None:
    """Pages, manifests, collections, search, Content Search, ALTO, PDF and thumbnails."""
    item_id, image_id = world.items[case]
    grant = expected(case, viewer)
    exists = grant != "hidden"
    page = world.web(viewer, f"/items/{item_id}")
    assert page.status_code == (200 if exists else 404)
    for path in (
        f"/iiif/{item_id}/manifest",
        f"/iiif/2/{item_id}/manifest",
        f"/items/{item_id}/record.json",
    ):
        assert world.web(viewer, path).status_code == (200 if exists else 404), path
    slug = "nhom" if case.level == "restricted-group" else "mo"
    # IIIF collections list published manifests only, even to staff; the pages list drafts
    # to staff too.
    for path in (f"/iiif/collection/{slug}", f"/iiif/2/collection/{slug}"):
        listed = _listed(world.web(viewer, path).get_data(as_text=True), item_id)
        assert listed == (exists and case.status == "published"), path
    listing = "".join(
        world.web(viewer, f"/collections/{slug}?page={n}").get_data(as_text=True) for n in (1, 2)
    )
    assert _listed(listing, item_id) == exists
    # Browsing lists what the collection pages list, along indexes of its own (titles, years,
    # a term's items: services.access.visible_items(ordered_elsewhere=True)).
    for path in (
        "/browse/title?letter=S",
        "/browse/date?century=18",
        "/browse/subject?term=Ma trận",
    ):
        browsed = "".join(
            world.web(viewer, f"{path}&page={n}").get_data(as_text=True) for n in (1, 2)
        )
        assert _listed(browsed, item_id) == exists, path
    # The page text beside the image is as open as the pages.
    text = world.web(viewer, f"/items/{item_id}/page-text.json?page=1")
    assert text.status_code == {"hidden": 404, "none": 403, "degraded": 403, "full": 200}[grant]
    assert (case.word in text.get_data(as_text=True)) == (grant == "full")
    # Search finds only what the viewer may know; drafts and withdrawn items are not indexed.
    found = _listed(world.web(viewer, f"/search?q={case.word}").get_data(as_text=True), item_id)
    assert found == (exists and case.status == "published")
    # The words on the pages are as open as the pages.
    words = {"hidden": 404, "none": 401, "degraded": 401, "full": 200}[grant]
    for path in (
        f"/iiif/{item_id}/search?q={case.word}",
        f"/iiif/{item_id}/search/1?q={case.word}",
        f"/iiif/{item_id}/autocomplete?q={case.word[:5]}",
        f"/iiif/{item_id}/canvas/{image_id}/text/alto.xml",
        f"/iiif/{item_id}/canvas/{image_id}/text/annotations",
    ):
        answer = world.web(viewer, path)
        assert answer.status_code == words, path
        if words != 200:
            assert case.word not in answer.get_data(as_text=True), path
    # A PDF leaves the site for good: open items for all, anything for staff, else nothing.
    pdf = world.web(viewer, f"/items/{item_id}/download.pdf")
    if not exists:
        assert pdf.status_code == 404
    elif viewer == "curator" or case.level == "open":
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    else:
        assert pdf.status_code == 403
    # Thumbnails are offered only to viewers who will get their pixels.
    if exists:
        assert (f"/iiif/3/{image_id}/full/" in listing) == (grant in ("full", "degraded"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.level}-{c.status}-{c.embargo}")
def test_public_feeds(world: World, case: Case) -> None:
    """OAI-PMH, Change Discovery, sitemaps and open data follow the same rule for all."""
    item_id, _ = world.items[case]
    known = publicly_known(case)
    for viewer in ("anonymous", "reader", "curator", "onsite"):
        oai = world.web(
            viewer,
            "/oai?verb=GetRecord&metadataPrefix=oai_dc"
            f"&identifier=oai:{urlsplit(world.app.config['PUBLIC_URL']).hostname}:{item_id}",
        ).get_data(as_text=True)
        if known == "record":
            assert "<metadata>" in oai and 'status="deleted"' not in oai
        elif known == "deleted":
            assert 'status="deleted"' in oai
        else:
            assert "idDoesNotExist" in oai
        activities = discovery_text(world, viewer)
        assert (item_id in activities) == (known != "none"), viewer
        sitemap = world.web(viewer, "/sitemaps/items-1.xml").get_data(as_text=True)
        assert (item_id in sitemap) == publicly_listed(case)
        rows = world.web(viewer, "/opendata/items.csv").get_data(as_text=True)
        ids = {row.get("id", "") for row in csv.DictReader(io.StringIO(rows.lstrip("\ufeff")))}
        assert (item_id in ids or item_id in rows) == publicly_listed(case)
        jsonld = world.web(viewer, "/opendata/items.jsonld").get_data(as_text=True)
        assert (item_id in jsonld) == publicly_listed(case)


def discovery_text(world: World, viewer: str) -> str:
    pages = []
    number = 0
    while True:
        answer = world.web(viewer, f"/iiif/discovery/page/{number}")
        if answer.status_code != 200:
            break
        pages.append(answer.get_data(as_text=True))
        if '"next"' not in pages[-1]:
            break
        number += 1
    return "".join(pages)


# -- the adversarial crawl -----------------------------------------------------------------

_LINK = re.compile(r'(?:href|src)="([^"#]+)"')
_JSON_URL = re.compile(r'"(?:@?id|url)"\s*:\s*"(https?://[^"]+)"')
_NEVER = ("/logout", "/auth/iiif/logout", "/auth/iiif2/logout", "/lang/")


def _crawl(world: World, viewer: str, limit: int = 900) -> Iterator[tuple[str, Any]]:
    web_base = world.app.config["PUBLIC_URL"].rstrip("/")
    image_base = world.app.config["IMAGE_URL"].rstrip("/")
    queue = ["/", "/search?q=matran", "/iiif/collection/top", "/iiif/discovery/page/0"]
    queue += [
        "/oai?verb=ListRecords&metadataPrefix=oai_dc",
        "/sitemap.xml",
        "/opendata/items.jsonld",
    ]
    seen: set[str] = set()
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen or any(part in url for part in _NEVER):
            continue
        seen.add(url)
        if url.startswith(image_base):
            path = url[len(image_base) :]
            answer = world.image(viewer, path)
        else:
            path = url[len(web_base) :] if url.startswith(web_base) else url
            if not path.startswith("/") or path.startswith("//"):
                continue
            answer = world.web(viewer, path)
        yield url, answer
        if answer.status_code != 200 or not answer.mimetype.endswith(("html", "json", "xml")):
            continue
        body = answer.get_data().decode("utf-8", "replace")
        found = [*_LINK.findall(body), *_JSON_URL.findall(body)]
        if answer.mimetype.endswith("json") and "/info.json" in url:
            document = answer.get_json()
            base = document.get("id") or document.get("@id")
            for size in document.get("sizes", []):
                found.append(f"{base}/full/{size['width']},{size['height']}/0/default.jpg")
            found.append(f"{base}/full/max/0/default.jpg")
            for tiles in document.get("tiles", []):  # the first tile of every level offered
                side = tiles["width"]
                for factor in tiles["scaleFactors"]:
                    found.append(
                        f"{base}/0,0,{side * factor},{side * factor}/{side},/0/default.jpg"
                    )
        for link in found:
            link = link.replace("&amp;", "&")
            if link.startswith(image_base) and "/iiif/3/" in link and link.count("/") <= 5:
                link = link.rstrip("/") + "/info.json"
            if link.startswith((web_base, image_base, "/")):
                queue.append(link)


@pytest.mark.parametrize("viewer", [v for v in VIEWERS if v != "curator"])
def test_an_adversarial_crawl_finds_nothing_beyond_the_viewers_grant(
    world: World, viewer: str
) -> None:
    """Follow every link and service the site announces, as this viewer: no image is larger
    than the viewer's grant of its item, and no response names an item hidden from them."""
    by_image = {image_id: case for case, (_, image_id) in world.items.items()}
    # A withdrawn item that was public stays known, as a deleted record and a Delete.
    hidden_ids = [
        item_id
        for case, (item_id, _) in world.items.items()
        if expected(case, viewer) == "hidden" and publicly_known(case) == "none"
    ]
    images = visited = 0
    for url, answer in _crawl(world, viewer):
        visited += 1
        body = answer.get_data()
        if answer.status_code == 200 and answer.mimetype.startswith("image/"):
            if "/iiif/" not in url:
                continue  # the site's own logo and icons
            image_id = url.split("/iiif/")[1].split("/")[1]
            case = by_image[image_id]
            grant = expected(case, viewer)
            assert grant in ("full", "degraded"), url
            limit = EDGE if grant == "degraded" else world.width[case]
            assert max(pixels(answer)) <= limit, url
            images += 1
            continue
        text = body.decode("utf-8", "replace")
        leaked = [item_id for item_id in hidden_ids if item_id in text]
        assert not leaked, (url, leaked)
    print(f"{viewer}: {visited} responses, {images} images")
    assert visited > 100 and images > 0  # the crawl did reach pages and pixels


def test_every_cell_of_the_table_is_exercised() -> None:
    kinds = {expected(case, viewer) for case in CASES for viewer in VIEWERS}
    assert kinds == {"hidden", "none", "degraded", "full"}
    assert len(CELLS) == len(LEVELS) * len(STATUSES) * len(EMBARGOES) * len(VIEWERS)
