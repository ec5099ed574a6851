"""Curators: create collections and items, upload pages, describe and publish them.

Each module registers its views on ``bp`` (``blueprint.py``), which lets only curators in.
"""

from . import catalogue, collections, dashboard, items, programme, tasks, usage  # views on bp
from .blueprint import bp

__all__ = ["bp", "catalogue", "collections", "dashboard", "items", "programme", "tasks", "usage"]
