"""The pure manifest builder: golden JSON and the shared Presentation 3.0 schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from manifests import CanvasRecord, ManifestRecord, MetadataEntry, Urls, language_map, manifest_json

GOLDEN = Path(__file__).parent / "data" / "golden"
URLS = Urls("https://thuvien.example.vn", "https://anh.example.vn")

RECORD = ManifestRecord(
    item_id="kieu01",
    label={"vi": ["Đoạn trường tân thanh"], "en": ["The Tale of Kiều"]},
    summary={"vi": ["Bản Nôm khắc in năm 1866."]},
    metadata=(MetadataEntry({"vi": ["Tác giả"], "en": ["Creator"]}, {"vi": ["Nguyễn Du"]}),),
    viewing_direction="right-to-left",
    canvases=(
        CanvasRecord("p0001", {"none": ["tờ 1a"]}, 2000, 3000),
        CanvasRecord("p0002", {"none": ["tờ 1b"]}, 2010, 2990),
    ),
)


def validate(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    return [
        f"{list(e.path)}: {e.message[:200]}" for e in Draft7Validator(schema).iter_errors(document)
    ]


def test_manifest_matches_golden_json() -> None:
    document = manifest_json(RECORD, URLS)
    golden = GOLDEN / "manifest_rtl.json"
    if os.environ.get("TANGTHU_REGENERATE_GOLDEN"):
        golden.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    assert document == json.loads(golden.read_text())


def test_manifest_validates_against_the_shared_schema(presentation_schema: dict[str, Any]) -> None:
    assert validate(manifest_json(RECORD, URLS), presentation_schema) == []


def test_canvas_sizes_and_services_come_from_the_records() -> None:
    document = manifest_json(RECORD, URLS)
    canvas = document["items"][1]
    assert (canvas["width"], canvas["height"]) == (2010, 2990)
    body = canvas["items"][0]["items"][0]["body"]
    assert body["service"] == [
        {"id": "https://anh.example.vn/iiif/3/p0002", "type": "ImageService3", "profile": "level2"}
    ]
    assert document["viewingDirection"] == "right-to-left"
    assert document["thumbnail"][0]["id"].startswith("https://anh.example.vn/iiif/3/p0001/full/")


def test_language_map_drops_empty_values_and_is_never_empty() -> None:
    assert language_map({"vi": "Kiều", "en": ""}) == {"vi": ["Kiều"]}
    assert language_map({}) == {"none": [""]}


def test_an_empty_item_still_validates(presentation_schema: dict[str, Any]) -> None:
    empty = ManifestRecord("x1", {"none": ["?"]}, canvases=())
    assert validate(manifest_json(empty, URLS), presentation_schema) == []


@pytest.mark.parametrize("direction", ["left-to-right", "right-to-left", "top-to-bottom"])
def test_viewing_directions(direction: str, presentation_schema: dict[str, Any]) -> None:
    record = ManifestRecord(
        "x1", {"vi": ["a"]}, canvases=RECORD.canvases, viewing_direction=direction
    )
    document = manifest_json(record, URLS)
    assert document["viewingDirection"] == direction
    assert validate(document, presentation_schema) == []
