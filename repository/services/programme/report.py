"""The programme's figures as an agency receives them: JSON of counts, and CSV."""

from __future__ import annotations

import csv
import io

from flask_babel import gettext as _

from . import CATEGORY_LABELS, Dashboard, Figures, Progress


def summary(board: Dashboard) -> dict[str, object]:
    """The figures as JSON: counts only, never a title."""

    def row(progress: Progress) -> dict[str, object]:
        held = progress.holdings
        return {
            "category": progress.category.value if progress.category else "all",
            "holdings": {"titles": held.titles, "pages": held.pages} if held else None,
            "holdings_counted_on": held.counted_on.isoformat() if held else None,
            "target_percent": progress.target,
            **{name: getattr(progress.figures, name) for name in Figures.__dataclass_fields__},
            "percent_titles_digitised": progress.percent_titles,
            "percent_pages_digitised": progress.percent_pages,
            "projection": progress.projection.state,
            "pace_pages_per_month": round(progress.projection.pace, 1),
            "target_month": (
                progress.projection.month.isoformat()[:7] if progress.projection.month else None
            ),
        }

    return {
        "period": {"start": board.start.isoformat(), "end": board.end.isoformat()},
        "categories": [row(p) for p in board.categories],
        "overall": row(board.overall),
        "months": [
            {
                "month": p.month.isoformat()[:7],
                "pages_digitised": p.pages_digitised,
                "pages_published": p.pages_published,
            }
            for p in board.months
        ],
    }


def report_csv(board: Dashboard, library: str) -> str:
    """The report for the management agency, one row per category, in the reader's language."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Library"), library])
    writer.writerow([_("Period"), board.start.isoformat(), board.end.isoformat()])
    writer.writerow([])
    writer.writerow(
        [
            _("Category"),
            _("Titles held"),
            _("Pages held"),
            _("Titles digitised"),
            _("Pages digitised"),
            _("Titles published"),
            _("Pages published"),
            _("Pages with text"),
            _("Titles digitised, percent"),
            _("Pages digitised, percent"),
            _("Target, percent"),
        ]
    )
    for progress in [*board.categories, board.overall]:
        label = CATEGORY_LABELS[progress.category] if progress.category else _("All categories")
        held, f = progress.holdings, progress.figures
        writer.writerow(
            [
                str(label),
                held.titles if held else "",
                held.pages if held else "",
                f.titles_digitised,
                f.pages_digitised,
                f.titles_published,
                f.pages_published,
                f.pages_text,
                "" if progress.percent_titles is None else progress.percent_titles,
                "" if progress.percent_pages is None else progress.percent_pages,
                progress.target or "",
            ]
        )
    return out.getvalue()
