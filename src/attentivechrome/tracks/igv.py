"""An IGV session (XML, version 8) over the tracks: one data panel per cell type.

Paths are relative to the session file, which IGV resolves from the file's own folder, so
the tracks folder can be copied anywhere and opened with File > Open Session.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from attentivechrome.io import atomic_write_text
from attentivechrome.tracks.catalogue import Track


def session_xml(tracks: Sequence[Track], genome: str, locus: str) -> str:
    session = ET.Element("Session", genome=genome, locus=locus, version="8")
    resources = ET.SubElement(session, "Resources")
    for track in tracks:
        ET.SubElement(resources, "Resource", name=track.name, path=track.path)
    panels: dict[str, ET.Element] = {}
    for track in tracks:
        if track.cell not in panels:
            panels[track.cell] = ET.SubElement(session, "Panel", name=track.cell)
        attributes = {"id": track.path, "name": track.name}
        if track.kind == "genes":
            attributes["displayMode"] = "EXPANDED"
        else:
            attributes |= {"autoScale": "true", "color": track.rgb(), "renderer": "BAR_CHART"}
        ET.SubElement(panels[track.cell], "Track", attributes)
    ET.indent(session)
    body = ET.tostring(session, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + body + "\n"


def write_session(tracks: Sequence[Track], genome: str, locus: str, out: Path) -> None:
    atomic_write_text(out, session_xml(tracks, genome, locus))
