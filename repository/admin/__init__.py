"""Curators: create collections and items, upload pages, describe and publish them.

Each module registers its views on ``bp`` (``blueprint.py``), which lets only curators in.
"""

from . import (  # views on bp
    catalogue,
    collections,
    dashboard,
    harvest,
    imports,
    items,
    people,
    programme,
    requests,
    site,
    tasks,
    usage,
)
from .blueprint import bp

__all__ = [
    "bp",
    "catalogue",
    "collections",
    "dashboard",
    "harvest",
    "imports",
    "items",
    "people",
    "programme",
    "requests",
    "site",
    "tasks",
    "usage",
]
