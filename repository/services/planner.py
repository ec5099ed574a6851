"""A hint to SQLite's query planner, which has no statistics (a SQLite file is never
analysed): it prefers any index whose first column a condition fixes by equality, such as
``item.status = 'published'``, over the index a listing is ordered by, and then reads every
published item and sorts them for one page. ``unindexed`` marks a condition's column as one
to filter by only, with SQLite's own idiom (a unary ``+``); other databases get it as it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class unindexed(FunctionElement[Any]):  # noqa: N801  (read as a function in conditions)
    """``column``, which SQLite will not look up along an index."""

    inherit_cache = True
    name = "unindexed"

    def __init__(self, column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _as_is(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed, "sqlite")
def _unary_plus(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"
