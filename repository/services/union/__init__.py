"""The union catalogue: records described here but held elsewhere.

Partners send their catalogue as our own open-data CSV (``opendata_csv``), as MARC 21,
binary or MARCXML (``marc_import``), or point at one IIIF manifest (``remote_manifest``);
``services/harvest.py`` brings in their OAI-PMH records. Each record becomes a
metadata-only item (no images) that names its institution, links to the record at its
source and, when it has one, opens the source's manifest in the viewer (``records``).
Every file is hostile until checked: sizes and record counts are capped, XML is read by
``services/untrusted_xml.py`` and remote addresses are fetched by
``services/safe_fetch.py``.
"""
