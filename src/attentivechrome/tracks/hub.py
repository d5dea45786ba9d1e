"""A UCSC track hub over the tracks: `hub.txt`, `genomes.txt` and `trackDb.txt`, all in the
tracks folder, so that `bigDataUrl`s are paths relative to it.

One super-track per cell type holds its tracks (coverage and attention as bigWig, the
genes as bigBed 9 with their colours). Serve the folder over HTTP(S) and give UCSC the URL
of hub.txt (My Data > Track Hubs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from attentivechrome.io import atomic_write_text
from attentivechrome.tracks.catalogue import LONG_LABEL, SHORT_LABEL, Track, track_ids

HUB = "hub.txt"
GENOMES = "genomes.txt"
TRACK_DB = "trackDb.txt"
#: What every stanza of each file must have (UCSC's hub specification).
REQUIRED = {
    HUB: ("hub", "shortLabel", "longLabel", "genomesFile", "email"),
    GENOMES: ("genome", "trackDb"),
    TRACK_DB: ("track", "shortLabel", "longLabel"),
}
#: What a trackDb stanza of a data track must have besides.
DATA_TRACK = ("type", "bigDataUrl", "parent")


def _stanza(fields: dict[str, str]) -> str:
    return "".join(f"{key} {value}\n" for key, value in fields.items())


def _labels(short: str, long: str) -> dict[str, str]:
    return {"shortLabel": short[:SHORT_LABEL], "longLabel": long[:LONG_LABEL]}


def track_db(tracks: Sequence[Track]) -> str:
    cells = list(dict.fromkeys(track.cell for track in tracks))
    # Track names from the files' paths: DEMO1/H3K4me3.cpm.bw is DEMO1_H3K4me3_cpm.
    ids = track_ids(cells + [track.hub_file.rsplit(".", 1)[0] for track in tracks])
    group = dict(zip(cells, ids[: len(cells)], strict=True))
    stanzas = []
    for cell in cells:
        stanzas.append(
            {"track": group[cell], "superTrack": "on show"}
            | _labels(cell, f"{cell}: coverage, AttentiveChrome attention and predictions")
        )
        for track, track_id in zip(tracks, ids[len(cells) :], strict=True):
            if track.cell != cell:
                continue
            fields = {"track": track_id, "parent": group[cell]}
            fields |= _labels(track.short_label, track.name)
            fields |= {"type": track.file_type, "bigDataUrl": track.hub_file}
            if track.kind == "genes":
                fields |= {"itemRgb": "on", "visibility": "pack"}
            else:
                fields |= {"color": track.rgb(), "autoScale": "on", "visibility": "full"}
            stanzas.append(fields)
    return "\n".join(_stanza(stanza) for stanza in stanzas)


def write_hub(tracks: Sequence[Track], genome: str, email: str, folder: Path) -> None:
    hub = {"hub": "attentivechrome"}
    hub |= _labels("AttentiveChrome", "AttentiveChrome: read coverage, attention and predictions")
    hub |= {"genomesFile": GENOMES, "email": email}
    atomic_write_text(folder / TRACK_DB, track_db(tracks))
    atomic_write_text(folder / GENOMES, _stanza({"genome": genome, "trackDb": TRACK_DB}))
    atomic_write_text(folder / HUB, _stanza(hub))
