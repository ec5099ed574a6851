"""XML from outside (partners' MARCXML files, OAI-PMH answers), read without surprises.

A DOCTYPE or an entity declaration is refused before anything is expanded, the parser
never touches the network or loads a DTD, and huge trees are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from .errors import Refused, TooLarge

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_ROOT_TAG = re.compile(rb"<[A-Za-z_]")
_PROLOG_BYTES = 1024 * 1024


class XmlRefused(Refused):
    """XML we will not read: code ``unsafeXml`` (a DOCTYPE or entities) or ``badXml``."""


def _unsafe(detail: str = "") -> XmlRefused:
    message = "XML with a DOCTYPE or entity declarations is refused"
    if detail:
        message = f"XML with entities is refused ({detail})"
    return XmlRefused(message, code="unsafeXml")


def _syntax(exc: etree.XMLSyntaxError) -> XmlRefused:
    if "entity" in str(exc).lower():
        return _unsafe(str(exc))
    return XmlRefused(f"not well-formed XML: {exc}", code="badXml")


def safe_parser() -> etree.XMLParser:
    """No entity expansion, no network, no DTD, no huge trees."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _declares_dtd(head: bytes) -> bool:
    """Whether the prolog (what comes before the first element) declares a DOCTYPE."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", "ignore").encode("utf-8")
    root = _ROOT_TAG.search(head)
    return bool(_DECLARATION.search(head[: root.start()] if root else head))


def _refuse_doctype(tree: etree._ElementTree) -> None:
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.system_url:
        raise _unsafe()


def parse_untrusted_xml(data: bytes) -> etree._Element:
    """Parse XML from outside, refusing DOCTYPEs and entities before anything expands."""
    if _declares_dtd(data[:_PROLOG_BYTES]):
        raise _unsafe()
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise _syntax(exc) from None
    _refuse_doctype(root.getroottree())
    return root


def check_xml_file(path: Path, max_records: int, record_name: str = "record") -> int:
    """Read an XML file safely (streaming) and count its ``record`` elements; TooLarge
    past ``max_records``."""
    with path.open("rb") as stream:
        if _declares_dtd(stream.read(_PROLOG_BYTES)):
            raise _unsafe()
    count = 0
    checked = False
    context = etree.iterparse(
        str(path),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        for event, element in context:
            if not checked:
                _refuse_doctype(element.getroottree())
                checked = True
            if event == "end" and etree.QName(element).localname == record_name:
                count += 1
                if count > max_records:
                    raise TooLarge(f"more than {max_records} records in one file")
                element.clear()
    except etree.XMLSyntaxError as exc:
        raise _syntax(exc) from None
    return count
