"""Real IIIF clients read everything the demo serves: @iiif/parser under Node (the parser
of Clover and its family), and the official Presentation validator's 2.1 checks."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, ROOT
from tests.presentation2 import check_answer, check_document

PARSER = ROOT / "tests" / "js" / "parse_manifests.mjs"
VIEWER = ROOT / "viewer"
GZIP_OVER = 1024  # the repository sends smaller bodies as they are (repository/api)
# Auth 1.0 gives its services plain-string labels, as Mirador reads them; @iiif/parser's
# strict 3.0 upgrade expects language maps everywhere in a 3.0 manifest.
PARSER_WARNINGS_OF_AUTH1 = '"label" should be a language map instead found a string'


def fetch(url: str, version: int) -> tuple[bytes, Any]:
    """As the validator asks: the version's JSON-LD profile, gzip welcome."""
    accept = f'application/ld+json;profile="http://iiif.io/api/presentation/{version}/context.json"'
    request = urllib.request.Request(url, headers={"Accept": accept, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body, response.headers


def crawl(web: str, version: int) -> dict[str, tuple[bytes, Any]]:
    """Every collection and manifest reachable from the top collection, by URL."""
    prefix = "/iiif/2" if version == 2 else "/iiif"
    queue, found = [f"{web}{prefix}/collection/top"], {}
    while queue:
        url = queue.pop()
        if url in found:
            continue
        body, headers = found[url] = fetch(url, version)
        document = json.loads(body)
        if version == 3:
            queue += [i["id"] for i in document.get("items", []) if i["type"] != "Canvas"]
        else:
            queue += [c["@id"] for c in document.get("collections", [])]
            queue += [m["@id"] for m in document.get("manifests", [])]
    return found


@pytest.fixture(scope="module")
def served(site: dict[str, str]) -> dict[int, dict[str, tuple[bytes, Any]]]:
    documents = {version: crawl(site["web"], version) for version in (3, 2)}
    for item in (site["rtl_item"], site["restricted_item"], site["text_item"]):
        assert f"{site['web']}/iiif/{item}/manifest" in documents[3]
        assert f"{site['web']}/iiif/2/{item}/manifest" in documents[2]
    return documents


def test_iiif_parser_reads_every_manifest_and_collection(
    site: dict[str, str],
    served: dict[int, dict[str, tuple[bytes, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if shutil.which("node") is None or not (VIEWER / "node_modules" / "@iiif" / "parser").is_dir():
        pytest.fail("Node and viewer/node_modules are needed: run make")
    entries = []
    for version, documents in served.items():
        for number, (url, (body, _)) in enumerate(sorted(documents.items())):
            path = tmp_path / f"v{version}-{number}.json"
            path.write_bytes(body)
            entries.append({"name": url, "file": str(path), "version": version})
    listing = tmp_path / "documents.json"
    listing.write_text(json.dumps(entries))
    run = subprocess.run(
        ["node", str(PARSER), str(VIEWER), str(listing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    reports = {r["name"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert len(reports) == len(entries)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "iiif-parser-report.json").write_text(json.dumps(reports, indent=1))
    counted = Counter(w for r in reports.values() for w in r["warnings"])
    with capsys.disabled():  # reported on every run, not only when the test fails
        print(f"\n@iiif/parser read {len(reports)} documents; warnings: {dict(counted) or 'none'}")
    assert {name: r["error"] for name, r in reports.items() if r["error"]} == {}
    assert set(counted) <= {PARSER_WARNINGS_OF_AUTH1}, counted
    web = site["web"]
    for prefix in ("/iiif", "/iiif/2"):  # 2.1 keeps its direction through the upgrade
        assert reports[f"{web}{prefix}/{site['rtl_item']}/manifest"]["viewingDirection"] == (
            "right-to-left"
        )
        restricted = reports[f"{web}{prefix}/{site['restricted_item']}/manifest"]
        assert restricted["viewingDirection"] == "top-to-bottom"
        assert restricted["type"] == "Manifest"


def test_official_validator_passes_every_presentation_2_document(
    served: dict[int, dict[str, tuple[bytes, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    errors, warnings, left = {}, Counter[str](), Counter[str]()
    for url, (body, headers) in served[2].items():
        report = check_document(body, url)
        if report.errors:
            errors[url] = report.errors
        answer = check_answer(headers)
        warnings.update(report.warnings + answer)
        # What we cannot mend: iiif-prezi's false 'rendering' warning, and no gzip for
        # bodies too small to gain from it.
        small = len(body) <= GZIP_OVER
        left.update(report.fixable_warnings)
        left.update(w for w in answer if not (small and w.startswith("not gzip")))
    summary = dict(warnings) or "none"
    with capsys.disabled():
        print(f"\nPresentation 2.1 validator read {len(served[2])} documents; warnings: {summary}")
    assert errors == {}
    assert left == Counter(), left


def test_presentation_2_thumbnails_are_the_size_they_say(
    site: dict[str, str], served: dict[int, dict[str, tuple[bytes, Any]]]
) -> None:
    import pyvips

    body, _ = served[2][f"{site['web']}/iiif/2/{site['rtl_item']}/manifest"]
    canvases = json.loads(body)["sequences"][0]["canvases"]
    for thumbnail in [c["thumbnail"] for c in canvases]:
        with urllib.request.urlopen(thumbnail["@id"], timeout=30) as response:
            assert response.headers["Content-Type"] == thumbnail["format"]
            image = pyvips.Image.new_from_buffer(response.read(), "")
        assert (image.width, image.height) == (thumbnail["width"], thumbnail["height"])
