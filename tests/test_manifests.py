"""The pure manifest builders: golden JSON, the shared 3.0 schema, 2.1 shape, sanitising."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from manifests import (
    Agent,
    CanvasRecord,
    CollectionRecord,
    Link,
    ManifestRecord,
    ManifestSummary,
    MetadataEntry,
    RangeRecord,
    Urls,
    collection_json,
    collection_v2,
    language_map,
    manifest_json,
    manifest_v2,
)
from tests.presentation2 import check_document

pytestmark = pytest.mark.pure

GOLDEN = Path(__file__).parent / "data" / "golden"
URLS = Urls("https://thuvien.example.vn", "https://anh.example.vn")
CANVASES = (
    CanvasRecord("p0001", {"vi": ["tờ 1a"]}, 2000, 3000),
    CanvasRecord("p0002", {"vi": ["tờ 1b"]}, 2010, 2990),
    CanvasRecord("p0003", {"vi": ["tờ 2a"]}, 2000, 3000),
)
LIBRARY = Agent(
    id="https://thuvien.example.vn/",
    label={"vi": ["Thư viện Tàng Thư"], "en": ["Tàng Thư Library"]},
    homepage="https://thuvien.example.vn/",
    logo="https://thuvien.example.vn/static/logo.png",
)
RECORD = ManifestRecord(
    item_id="kieu01",
    label={"vi": ["Đoạn trường tân thanh"], "en": ["The Tale of Kiều"], "vi-Hani": ["斷腸新聲"]},
    summary={"vi": ["Bản Nôm khắc in năm 1866."]},
    metadata=(
        MetadataEntry({"vi": ["Tác giả"], "en": ["Creator"]}, {"vi": ["Nguyễn Du"]}),
        MetadataEntry({"vi": ["Nhan đề Hán"], "en": ["Title in Hán"]}, {"lzh": ["斷腸新聲"]}),
        MetadataEntry({"vi": ["Ký hiệu"], "en": ["Call number"]}, {"none": ["AB.17"]}),
    ),
    viewing_direction="right-to-left",
    behavior=("paged",),
    rights="http://rightsstatements.org/vocab/NoC-NC/1.0/",
    required_statement=MetadataEntry(
        {"vi": ["Ghi nguồn"], "en": ["Attribution"]}, {"vi": ["Thư viện Tàng Thư"]}
    ),
    provider=LIBRARY,
    nav_date="1866-01-01T00:00:00Z",
    start_image_id="p0002",
    canvases=CANVASES,
    structures=(
        RangeRecord(
            "r1",
            {"vi": ["Quyển thượng"]},
            children=(RangeRecord("r1-1", {"vi": ["Hồi 1"]}, canvases=("p0001", "p0002")),),
        ),
        RangeRecord("r2", {"vi": ["Quyển hạ"]}, canvases=("p0003",)),
    ),
    see_also=(
        Link(
            "https://thuvien.example.vn/items/kieu01/record.json",
            "Dataset",
            "application/json",
            {"en": ["Dublin Core record"]},
        ),
    ),
    rendering=(
        Link(
            "https://thuvien.example.vn/items/kieu01/download.pdf",
            "Text",
            "application/pdf",
            {"vi": ["Tải PDF"], "en": ["Download PDF"]},
        ),
    ),
    part_of=("han-nom",),
)


def validate(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    return [
        f"{list(e.path)}: {e.message[:200]}" for e in Draft7Validator(schema).iter_errors(document)
    ]


def golden(name: str, document: dict[str, Any]) -> dict[str, Any]:
    path = GOLDEN / name
    if os.environ.get("TANGTHU_REGENERATE_GOLDEN"):
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        pytest.skip(f"regenerated {name}: compare it by eye (git diff) before committing")
    expected: dict[str, Any] = json.loads(path.read_text())
    return expected


def test_manifest_matches_golden_json() -> None:
    document = manifest_json(RECORD, URLS)
    assert document == golden("manifest_rtl.json", document)


def test_manifest_validates_against_the_shared_schema(presentation_schema: dict[str, Any]) -> None:
    assert validate(manifest_json(RECORD, URLS), presentation_schema) == []


def test_every_part_of_the_record_is_in_the_manifest() -> None:
    document = manifest_json(RECORD, URLS)
    assert document["label"]["vi-Hani"] == ["斷腸新聲"]
    assert document["metadata"][1]["value"] == {"lzh": ["斷腸新聲"]}
    assert document["metadata"][2]["value"] == {"none": ["AB.17"]}
    assert document["rights"] == "http://rightsstatements.org/vocab/NoC-NC/1.0/"
    assert document["provider"][0]["logo"][0]["id"].endswith("logo.png")
    assert document["start"] == {"id": URLS.canvas("kieu01", "p0002"), "type": "Canvas"}
    assert document["behavior"] == ["paged"] and document["navDate"] == "1866-01-01T00:00:00Z"
    top = document["structures"][0]
    assert top["items"][0]["items"][1]["id"] == URLS.canvas("kieu01", "p0002")
    assert document["rendering"][0]["format"] == "application/pdf"
    assert document["partOf"] == [{"id": URLS.collection("han-nom"), "type": "Collection"}]


def test_canvas_sizes_and_both_image_services_come_from_the_records() -> None:
    canvas = manifest_json(RECORD, URLS)["items"][1]
    assert (canvas["width"], canvas["height"]) == (2010, 2990)
    assert canvas["label"] == {"vi": ["tờ 1b"]}
    services = canvas["items"][0]["items"][0]["body"]["service"]
    assert services == [
        {"id": "https://anh.example.vn/iiif/3/p0002", "type": "ImageService3", "profile": "level2"},
        {
            "@id": "https://anh.example.vn/iiif/2/p0002",
            "@type": "ImageService2",
            "profile": "http://iiif.io/api/image/2/level2.json",
        },
    ]


def test_html_in_values_is_cut_down_to_the_safe_subset() -> None:
    record = ManifestRecord(
        "x1",
        {"vi": ["<script>alert(1)</script>"]},
        canvases=CANVASES[:1],
        summary={"vi": ['<p>Xem <a href="javascript:alert(1)" onclick="x()">đây</a></p>']},
        metadata=(MetadataEntry({"en": ["Note"]}, {"en": ["a < b and c > d"]}),),
    )
    text = json.dumps(manifest_json(record, URLS))
    assert "script" not in text and "javascript" not in text and "onclick" not in text
    document = manifest_json(record, URLS)
    assert document["summary"]["vi"][0].startswith("<p>Xem <a")
    assert document["metadata"][0]["value"] == {"en": ["a < b and c > d"]}  # plain text kept


def test_language_map_drops_empty_values_and_is_never_empty() -> None:
    assert language_map({"vi": "Kiều", "en": ""}) == {"vi": ["Kiều"]}
    assert language_map({}) == {"none": [""]}


def test_an_empty_item_still_validates(presentation_schema: dict[str, Any]) -> None:
    empty = ManifestRecord("x1", {"none": ["?"]}, canvases=())
    assert validate(manifest_json(empty, URLS), presentation_schema) == []


@pytest.mark.parametrize("direction", ["left-to-right", "right-to-left", "top-to-bottom"])
def test_viewing_directions(direction: str, presentation_schema: dict[str, Any]) -> None:
    record = ManifestRecord("x1", {"vi": ["a"]}, canvases=CANVASES, viewing_direction=direction)
    document = manifest_json(record, URLS)
    assert document["viewingDirection"] == direction
    assert validate(document, presentation_schema) == []


def test_presentation_2_matches_golden_json() -> None:
    document = manifest_v2(RECORD, URLS)
    assert document == golden("manifest_rtl_v2.json", document)
    assert document["@type"] == "sc:Manifest" and document["viewingHint"] == "paged"
    canvas = document["sequences"][0]["canvases"][0]
    assert (
        canvas["images"][0]["resource"]["service"]["@id"] == "https://anh.example.vn/iiif/2/p0001"
    )
    assert document["label"][0] == {"@value": "Đoạn trường tân thanh", "@language": "vi"}
    assert [r["@id"].rsplit("/", 1)[1] for r in document["structures"]] == ["r1", "r1-1", "r2"]


SEARCH = (
    {
        "id": "https://thuvien.example.vn/iiif/kieu01/search",
        "type": "SearchService2",
        "service": [
            {
                "id": "https://thuvien.example.vn/iiif/kieu01/autocomplete",
                "type": "AutoCompleteService2",
            }
        ],
    },
    {
        "@id": "https://thuvien.example.vn/iiif/kieu01/search/1",
        "@type": "SearchService1",
        "profile": "http://iiif.io/api/search/1/search",
        "service": {
            "@id": "https://thuvien.example.vn/iiif/kieu01/autocomplete/1",
            "@type": "AutoCompleteService1",
            "profile": "http://iiif.io/api/search/1/autocomplete",
        },
    },
)


def test_presentation_2_for_upgraders_and_strict_readers() -> None:
    document = manifest_v2(dataclasses.replace(RECORD, services=SEARCH), URLS)
    # @iiif/parser's upgrade to 3.0 reads the direction from the sequence only.
    assert document["sequences"][0]["viewingDirection"] == "right-to-left"
    # Allmaps refuses a language-tagged rendering label.
    assert document["rendering"][0]["label"] == "Tải PDF / Download PDF"
    thumbnail = document["sequences"][0]["canvases"][1]["thumbnail"]
    assert (thumbnail["format"], thumbnail["width"], thumbnail["height"]) == (
        "image/jpeg",
        172,
        256,
    )
    assert thumbnail["@id"].endswith("/full/172,256/0/default.jpg")  # as the 3.0 thumbnail
    (search,) = document["service"]
    assert search["@id"].endswith("/search/1")
    assert search["service"]["@context"] == "http://iiif.io/api/search/1/context.json"


def test_presentation_2_passes_the_official_validator() -> None:
    record = dataclasses.replace(RECORD, services=SEARCH)
    for document in (manifest_v2(record, URLS), collection_v2(COLLECTION, URLS)):
        report = check_document(json.dumps(document), document["@id"])
        assert report.errors == []
        assert report.fixable_warnings == [], report.warnings


COLLECTION = CollectionRecord(
    slug="han-nom",
    label={"vi": ["Sách Hán Nôm"], "en": ["Hán-Nôm books"]},
    summary={"vi": ["Sách cổ."]},
    children=(("han-nom-tu-duc", {"vi": ["Đời Tự Đức"]}),),
    manifests=(
        ManifestSummary("kieu01", RECORD.label, CANVASES[0]),
        ManifestSummary("x2", {"none": ["Vô đề"]}),
    ),
    provider=LIBRARY,
)


def test_collections_validate_and_list_children_then_manifests(
    presentation_schema: dict[str, Any],
) -> None:
    document = collection_json(COLLECTION, URLS)
    assert validate(document, presentation_schema) == []
    assert [i["type"] for i in document["items"]] == ["Collection", "Manifest", "Manifest"]
    assert document["items"][1]["thumbnail"][0]["id"].startswith("https://anh.example.vn/")
    paged = CollectionRecord("big", {"en": ["Big"]}, pages=(1, 2, 3))
    pages = collection_json(paged, URLS)["items"]
    assert [p["id"] for p in pages][-1] == "https://thuvien.example.vn/iiif/collection/big?page=3"
    one = collection_json(
        CollectionRecord("big", {"en": ["Big"]}, page=2, manifests=COLLECTION.manifests), URLS
    )
    assert one["partOf"][0]["id"] == "https://thuvien.example.vn/iiif/collection/big"
    assert validate(one, presentation_schema) == []
    v2 = collection_v2(COLLECTION, URLS)
    assert v2["@type"] == "sc:Collection" and len(v2["manifests"]) == 2


def test_a_2_1_manifest_without_a_summary_still_describes_itself() -> None:
    record = dataclasses.replace(RECORD, summary=None)
    description = manifest_v2(record, URLS)["description"]
    pages = len(RECORD.canvases)
    assert {"@value": f"{pages} digitised pages", "@language": "en"} in description
    assert not check_document(json.dumps(manifest_v2(record, URLS)).encode(), "x").fixable_warnings


def test_manifest_references_written_out_are_what_iiif_prezi3_builds() -> None:
    """collection_json writes a page of manifest references directly (a thousand through
    iiif-prezi3 took about a second): the document is the one build_collection makes,
    thumbnails, auth services and labels included."""
    from dataclasses import replace

    from manifests import build_collection
    from manifests.builder import to_jsonld

    guarded = replace(
        CANVASES[1],
        auth2=({"id": "https://thuvien.example.vn/iiif/auth/probe", "type": "AuthProbeService2"},),
    )
    record = replace(
        COLLECTION,
        page=3,
        manifests=(
            *COLLECTION.manifests,
            ManifestSummary("han01", {"vi-Hani": ["大越史記"], "vi": ["Đại Việt sử ký"]}, guarded),
        ),
    )
    written = json.loads(json.dumps(collection_json(record, URLS)))
    built = json.loads(json.dumps(to_jsonld(build_collection(record, URLS))))
    assert written == built
    assert written["items"][-1]["thumbnail"][0]["service"][0]["service"][0]["type"] == (
        "AuthProbeService2"
    )
