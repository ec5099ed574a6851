"""The IIIF Image API URL parser, from the spec's own examples (3.0 §4, 2.1 §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from image_server.errors import BadRequest, IIIFError, NotFound
from image_server.request import (
    BaseRequest,
    ImageRequest,
    InfoRequest,
    Region,
    Rotation,
    Size,
    Version,
    parse_path,
    parse_quality_format,
    parse_region,
    parse_rotation,
    parse_size,
)

pytestmark = pytest.mark.pure

V2, V3 = Version.V2, Version.V3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("full", Region("full")),
        ("square", Region("square")),
        ("125,15,120,140", Region("pixels", 125, 15, 120, 140)),
        ("pct:41.6,7.5,40,70", Region("percent", 41.6, 7.5, 40, 70)),
        ("pct:.5,0,100,100", Region("percent", 0.5, 0, 100, 100)),
    ],
)
def test_region_forms_from_the_spec(text: str, expected: Region) -> None:
    assert parse_region(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0,0,0,10",
        "0,0,10,0",
        "pct:0,0,0,10",
        "-1,0,10,10",
        "1,2,3",
        "1,2,3,4,5",
        "abc",
        "1.5,0,10,10",
        "pct:1e3,0,1,1",
        "pct:100,0,1,1",
        "full ",
        "FULL",
        "0x10,0,1,1",
    ],
)
def test_bad_regions_are_400(text: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_region(text)
    assert caught.value.status == 400 and caught.value.parameter == "region"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max", Size("max")),
        ("^max", Size("max", upscale=True)),
        ("150,", Size("w", w=150)),
        ("^360,", Size("w", w=360, upscale=True)),
        (",150", Size("h", h=150)),
        ("^,240", Size("h", h=240, upscale=True)),
        ("pct:50", Size("pct", pct=50)),
        ("^pct:120", Size("pct", pct=120, upscale=True)),
        ("225,100", Size("wh", 225, 100)),
        ("^360,360", Size("wh", 360, 360, upscale=True)),
        ("!225,100", Size("best", 225, 100)),
        ("^!360,360", Size("best", 360, 360, upscale=True)),
    ],
)
def test_size_forms_from_the_3_0_spec(text: str, expected: Size) -> None:
    assert parse_size(text, V3) == expected


@pytest.mark.parametrize(
    "text",
    [
        "full",
        "pct:120",
        "0,",
        ",0",
        ",",
        "!100,",
        "!,100",
        "pct:0",
        "pct:-5",
        "-5,",
        "^",
        "^full",
        "max,",
        "10,10,10",
        "1.5,",
    ],
)
def test_bad_3_0_sizes_are_400(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_size(text, V3)


def test_2_1_sizes_allow_full_and_refuse_caret() -> None:
    assert parse_size("full", V2) == Size("full")
    assert parse_size("pct:150", V2) == Size("pct", pct=150)
    with pytest.raises(BadRequest):
        parse_size("^max", V2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Rotation(0)),
        ("180", Rotation(180)),
        ("!0", Rotation(0, True)),
        ("!180", Rotation(180, True)),
        ("22.5", Rotation(22.5)),
        ("360", Rotation(0)),
    ],
)
def test_rotations(text: str, expected: Rotation) -> None:
    assert parse_rotation(text) == expected


@pytest.mark.parametrize("text", ["361", "-10", "abc", "!", "!!90", "90!", ""])
def test_bad_rotations_are_400(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_rotation(text)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("native.jpg", BadRequest),
        ("default.bmp", BadRequest),
        ("default", BadRequest),
        ("default.jp2", BadRequest),
        ("default.pdf", BadRequest),
        ("Default.jpg", BadRequest),
        (".jpg", BadRequest),
    ],
)
def test_quality_and_format_errors(text: str, error: type[IIIFError]) -> None:
    with pytest.raises(error):
        parse_quality_format(text)


def test_routes() -> None:
    assert parse_path("3/abc") == BaseRequest(V3, "abc")
    assert parse_path("3/abc/") == BaseRequest(V3, "abc")
    assert parse_path("2/abc/info.json") == InfoRequest(V2, "abc")
    assert parse_path("3/ab%2Dc/info.json") == InfoRequest(V3, "ab-c")
    request = parse_path("3/abc/full/max/0/default.jpg")
    assert isinstance(request, ImageRequest) and request.format == "jpg"


@pytest.mark.parametrize(
    "path",
    [
        "4/abc/info.json",
        "abc",
        "3/../../etc/passwd/info.json",
        "3/a%2Fb/info.json",
        "3/%ff/info.json",
        "3/" + "a" * 200 + "/info.json",
        "3/a.b/info.json",
    ],
)
def test_unknown_ids_and_versions_are_404(path: str) -> None:
    with pytest.raises(NotFound):
        parse_path(path)


def test_wrong_number_of_segments_is_400() -> None:
    with pytest.raises(BadRequest):
        parse_path("3/abc/full/max/default.jpg")


identifiers = st.from_regex(r"\A[A-Za-z0-9_-]{1,40}\Z")
pixel = st.integers(min_value=0, max_value=10**6)
positive = st.integers(min_value=1, max_value=10**6)
percent = st.decimals(min_value=0, max_value=99, places=3, allow_nan=False).map(float)
regions = st.one_of(
    st.sampled_from([Region("full"), Region("square")]),
    st.builds(lambda x, y, w, h: Region("pixels", x, y, w, h), pixel, pixel, positive, positive),
    st.builds(
        lambda x, y, w, h: Region("percent", x, y, w, h),
        percent,
        percent,
        percent.filter(lambda v: v > 0),
        percent.filter(lambda v: v > 0),
    ),
)
sizes_3 = st.one_of(
    st.builds(lambda up: Size("max", upscale=up), st.booleans()),
    st.builds(lambda w, up: Size("w", w=w, upscale=up), positive, st.booleans()),
    st.builds(lambda h, up: Size("h", h=h, upscale=up), positive, st.booleans()),
    st.builds(lambda w, h, up: Size("wh", w, h, upscale=up), positive, positive, st.booleans()),
    st.builds(lambda w, h, up: Size("best", w, h, upscale=up), positive, positive, st.booleans()),
    st.builds(lambda p: Size("pct", pct=p), percent.filter(lambda v: v > 0)),
)
rotations = st.builds(
    Rotation, st.decimals(min_value=0, max_value=359, places=2).map(float), st.booleans()
)
image_requests = st.builds(
    ImageRequest,
    st.just(V3),
    identifiers,
    regions,
    sizes_3,
    rotations,
    st.sampled_from(["default", "color", "gray", "bitonal"]),
    st.sampled_from(["jpg", "png", "webp", "tif", "gif"]),
)


@given(image_requests)
def test_formatting_then_parsing_gives_the_same_request(request: ImageRequest) -> None:
    assert parse_path(request.path()) == request


@given(st.lists(st.text(max_size=30), min_size=1, max_size=8))
def test_random_paths_only_ever_raise_iiif_errors(segments: list[str]) -> None:
    for version in ("2", "3"):
        try:
            parse_path("/".join([version, *segments]))
        except IIIFError:
            pass


def test_an_unencoded_slash_in_an_identifier_is_404() -> None:
    with pytest.raises(NotFound):
        parse_path("3/a/b/full/max/0/default.jpg")


@pytest.mark.parametrize(
    "path",
    [
        "3/a/nan,0,10,10/max/0/default.jpg",
        "3/a/pct:9999999999,0,1,1/max/0/default.jpg",
        "3/a/pct:1e308,0,1,1/max/0/default.jpg",
        "3/a/full/pct:nan/0/default.jpg",
        "3/a/full/pct:99999999999/0/default.jpg",
        "3/a/full/-5,/0/default.jpg",
        "3/a/full/0,0/0/default.jpg",
        "3/a/full/max/inf/default.jpg",
        "3/a/full/max/-0/default.jpg",
        "3/a/full/max/0/défault.jpg",
        "3/a/full/max/0/default.jpg%00",
        "3/a/" + "9" * 300 + ",0,1,1/max/0/default.jpg",
    ],
)
def test_nan_huge_negative_and_garbage_parameters_are_400(path: str) -> None:
    with pytest.raises(BadRequest):
        parse_path(path)
