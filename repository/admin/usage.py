"""COUNTER usage for curators: the item and collection reports, as pages, CSV and JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from flask import Response, jsonify, render_template

from ..public.statistics import usage_period
from ..services import usage
from ..services.access import can_see_item
from ..settings import current_settings
from ..web import current_viewer, localized, public_urls
from .blueprint import bp


def _report(begin: date, end: date) -> list[usage.ItemUsage]:
    viewer = current_viewer()  # curators: every item, restricted and staff ones too
    return usage.item_report(begin, end, lambda item: can_see_item(viewer, item))


@bp.get("/usage")
def usage_report() -> str:
    begin, end = usage_period()
    items = _report(begin, end)
    months = usage.month_range(begin, end)
    return render_template(
        "admin/usage.html",
        begin=begin,
        end=end,
        items=items[:200],
        item_count=len(items),
        collections=usage.collection_report(items),
        collection_titles=usage.collection_titles(),
        monthly=usage.monthly_totals(items, months),
        metrics=usage.METRICS,
    )


def _csv(rows: list[list[object]], name: str) -> Response:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/usage/items.csv")
def usage_items_csv() -> Response:
    begin, end = usage_period()
    rows: list[list[object]] = [["Item_ID", "Item", "Collection", "Month", *usage.METRICS]]
    for item in _report(begin, end):
        for month, counts in sorted(item.months.items()):
            title = localized(item.title)
            rows.append(
                [item.item_id, title, item.collection, f"{month:%Y-%m}", *counts.metrics().values()]
            )
    return _csv(rows, f"usage-items-{begin:%Y-%m}-{end:%Y-%m}.csv")


@bp.get("/usage/collections.csv")
def usage_collections_csv() -> Response:
    begin, end = usage_period()
    rows: list[list[object]] = [["Collection", "Month", *usage.METRICS]]
    for slug, by_month in usage.collection_report(_report(begin, end)).items():
        for month, counts in by_month.items():
            rows.append([slug, f"{month:%Y-%m}", *counts.metrics().values()])
    return _csv(rows, f"usage-collections-{begin:%Y-%m}-{end:%Y-%m}.csv")


@bp.get("/usage/ir.json")
def usage_sushi() -> Response:
    """Every item's usage, restricted and staff ones included: for curators."""
    begin, end = usage_period()
    body = usage.sushi_item_report(
        _report(begin, end),
        begin,
        end,
        localized(current_settings().library_name),
        public_urls().item_page,
        datetime.now(UTC),
    )
    return jsonify(body)
