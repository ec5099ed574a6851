"""OAI-PMH 2.0 for harvesters: ``protocol`` (arguments, errors, resumption tokens),
``records`` (which items are records, their sets and metadata) and ``verbs`` (the six
verbs, and ``respond``, the whole answer to one request)."""

from .protocol import OaiError, OaiSettings, Position, Selection, make_token, read_token
from .records import pick
from .verbs import respond

__all__ = [
    "OaiError",
    "OaiSettings",
    "Position",
    "Selection",
    "make_token",
    "pick",
    "read_token",
    "respond",
]
