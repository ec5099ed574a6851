#!/usr/bin/env bash
# The OpenSearch lane: the OpenSearch backend's tests against a real OpenSearch 2.x node.
# No OpenSearch installs from PyPI, npm or Debian, so tests/opensearch_node.py fetches the
# server and its modules from Maven Central with mvn into .cache/opensearch/ (git ignores
# it; once, about 20 s), starts one node on free loopback ports (single-node discovery, no
# security plugin, 512 MB heap, the JIT's first tier only: green in 4 to 13 s), runs the
# tests with TANGTHU_OPENSEARCH_URL set, and stops it. Every step is bounded in time, and
# the node also stops by itself if this lane is killed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jdk-headless maven
fi

REPORT=$(mktemp /tmp/tangthu-opensearch-lane.XXXXXX.xml)
trap 'rm -f "$REPORT"' EXIT
STARTED=$SECONDS
# The node stops when the tests end or after --timeout seconds, whichever comes first.
status=0
timeout -k 30 1500 .venv/bin/python -m tests.opensearch_node --quick --timeout 900 -- \
    .venv/bin/pytest -m "not browser" -p no:cacheprovider -q --junitxml="$REPORT" "$@" \
    tests/test_search_opensearch.py || status=$?
# Its own count: and every test ran against the node, none skipped for want of it.
.venv/bin/python - "$REPORT" "$((SECONDS - STARTED))" "$status" <<'PY'
import sys
import xml.etree.ElementTree as ET

report, seconds, status = sys.argv[1:]
try:
    suite = ET.parse(report).getroot()
except (OSError, ET.ParseError):
    sys.exit(f"OpenSearch lane: no tests ran (exit status {status}), see above")
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
total, failed, errors, skipped = (
    int(suite.get(name, 0)) for name in ("tests", "failures", "errors", "skipped")
)
passed = total - failed - errors - skipped
print(f"OpenSearch lane: {passed} passed, {failed + errors} failed, {skipped} skipped"
      f" in {seconds} s")
if skipped:
    sys.exit("OpenSearch lane: a test skipped although the node was up")
sys.exit(int(status))
PY
