"""Public pages for researchers: home, collections and items (``pages``) and the text of
their pages (``page_text``), browsing (``browse``), search, the language switch, health
probes, the open data and sitemaps (``opendata``), and the site's own pages (``site_pages``)."""

from . import (  # views register on bp
    browse,
    cite,
    fonts,
    health,
    language,
    opendata,
    page_text,
    pages,
    search,
    site_pages,
    statistics,
)
from .blueprint import bp

__all__ = [
    "bp",
    "browse",
    "cite",
    "fonts",
    "health",
    "language",
    "opendata",
    "page_text",
    "pages",
    "search",
    "site_pages",
    "statistics",
]
