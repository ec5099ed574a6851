"""Statistics for agencies and partners, and the hook that records COUNTER usage.

- ``/statistics/programme.json``: digitisation progress against the national programme
  (counts only, never a title);
- ``/statistics/usage.json``: the COUNTER Item Report (IR) as COUNTER_SUSHI JSON, for the
  items whose images the public may see (``access.shows_thumbnails``).

Usage is recorded by an ``after_request`` hook, set up when this blueprint is registered:
it looks only at the endpoint, the status and two headers, never the database, and hands
the event to the process's ``usage.Recorder``, which writes in batches. The image server,
which has no database, posts the full-size renders it served to
``/statistics/usage/events`` in signed batches (``image_server/usage.py``); they go to the
same recorder, as requests of the item.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _

from image_server import usage as image_usage

from ..extensions import csrf
from ..models import ITEM_ID
from ..services import programme, usage
from ..services.access import ANONYMOUS, shows_thumbnails
from ..services.programme.report import summary
from ..settings import current_settings, settings_of
from ..web import localized, public_urls
from .blueprint import bp

# The views whose success is a use of one item, and what kind of use.
COUNTED_VIEWS = {
    "public.item": usage.INVESTIGATION,
    "public.record": usage.INVESTIGATION,
    "api.manifest": usage.INVESTIGATION,
    "api.manifest_2": usage.INVESTIGATION,
    "public.download_pdf": usage.REQUEST,
}
COUNTED_STATUSES = frozenset({200, 206, 304})
EXTENSION = "tangthu.usage"


def init_usage(app: Flask) -> None:
    """Make the app's recorder, and count uses of items after each response."""
    typed = settings_of(app)
    settings = usage.UsageSettings(
        typed.usage_recording, typed.usage_batch, typed.usage_flush_seconds
    )

    def write(hits: list[usage.Hit]) -> None:
        with app.app_context():
            usage.store(hits)

    app.extensions[EXTENSION] = usage.Recorder(write, settings)
    if settings.recording:
        app.after_request(record_use)
    csrf.exempt(image_requests)  # a signed batch from the image server, not a form


def _setup(state: BlueprintSetupState) -> None:
    init_usage(state.app)  # type: ignore[arg-type]  # always our Flask app


bp.record_once(_setup)


def recorder(app: Flask | None = None) -> usage.Recorder:
    found: usage.Recorder = (app or current_app).extensions[EXTENSION]
    return found


def record_use(response: Response) -> Response:
    metric = COUNTED_VIEWS.get(request.endpoint or "")
    if metric is None or response.status_code not in COUNTED_STATUSES:
        return response
    item_id = str((request.view_args or {}).get("item_id", ""))
    if ITEM_ID.fullmatch(item_id):
        hit = usage.Hit(
            at=datetime.now(UTC).replace(tzinfo=None),
            item_id=item_id,
            metric=metric,
            action=request.endpoint or "",
            client=request.remote_addr or "",
            agent=request.headers.get("User-Agent", ""),
        )
        recorder().record(hit)
    return response


MAX_BATCH_BYTES = 16 * 1024 * 1024  # a batch of 500 with agents at 8 KB, the header limit


@bp.post(image_usage.PATH)
def image_requests() -> Response:
    """Full-size renders served by the image server, as a batch signed with the shared key."""
    if (request.content_length or 0) > MAX_BATCH_BYTES:
        abort(413)
    body = request.get_data(cache=False)
    keys = current_app.extensions["tangthu.token_keys"]
    if not image_usage.verified(keys, request.headers.get(image_usage.HEADER, ""), body):
        abort(403)
    try:
        found = image_usage.decode(body)
    except ValueError:
        abort(400)
    if current_settings().usage_recording:
        kept = recorder()
        for served in found:
            if ITEM_ID.fullmatch(served.item):
                kept.record(
                    usage.Hit(
                        at=datetime.fromtimestamp(served.at, UTC).replace(tzinfo=None),
                        item_id=served.item,
                        metric=usage.REQUEST,
                        action=f"image:{served.image}",
                        client=served.client,
                        agent=served.agent,
                    )
                )
    return Response(status=204)


# -- the public figures -------------------------------------------------------------------


def _day(name: str, default: date) -> date:
    try:
        return date.fromisoformat(request.args.get(name) or default.isoformat())
    except ValueError:
        abort(400, _("Give the period's days as YYYY-MM-DD."))


def _month(name: str, default: date) -> date:
    value = request.args.get(name) or f"{default:%Y-%m}"
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        abort(400, _("Give the months as YYYY-MM."))
    return date(int(match[1]), int(match[2]), 1)


def usage_period() -> tuple[date, date]:
    """?begin=&end= as YYYY-MM; by default the twelve months to this one."""
    end = _month("end", date.today())
    back = end.year * 12 + end.month - 1 - 11
    begin = _month("begin", date(back // 12, back % 12 + 1, 1))
    if begin > end:
        abort(400, _("The period starts after it ends."))
    return begin, end


@bp.get("/statistics/programme.json")
def programme_statistics() -> Response:
    end = _day("end", date.today())
    start = _day("start", date(end.year, 1, 1))
    if start > end:
        abort(400, _("The period starts after it ends."))
    body = {
        "library": current_settings().library_name,
        **summary(programme.dashboard(start, end)),
    }
    response = jsonify(body)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _public(item: Any) -> bool:
    return shows_thumbnails(ANONYMOUS, item)


@bp.get("/statistics/usage.json")
def usage_statistics() -> Response:
    begin, end = usage_period()
    items = usage.item_report(begin, end, _public)
    urls = public_urls()
    body = usage.sushi_item_report(
        items,
        begin,
        end,
        localized(current_settings().library_name),
        urls.item_page,
        datetime.now(UTC),
    )
    response = jsonify(body)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
