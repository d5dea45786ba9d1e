"""Rule tracks_session: the IGV session and the UCSC track hub over a run's tracks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from attentivechrome.tracks import hub, igv
from attentivechrome.tracks.catalogue import Track, TrackFiles, catalogue

log = logging.getLogger(__name__)

SESSION = "igv_session.xml"


def top_gene_locus(bed: Path) -> str:
    """Where the session opens: the window of the gene with the highest predicted
    probability in a BED9 (its score), as IGV writes a locus (1-based, inclusive)."""
    table = pd.read_csv(bed, sep="\t", header=None, usecols=[0, 1, 2, 4], dtype={0: str})
    if table.empty:
        return "All"
    top = table.loc[table[4].idxmax()]
    return f"{top[0]}:{int(top[1]) + 1}-{int(top[2])}"


def tracks_session(
    files: Mapping[str, Mapping],
    marks: Sequence[str],
    bin_size: int,
    genome: str,
    email: str,
    folder: Path,
) -> list[Track]:
    """`files`: per cell type, TrackFiles' fields (paths relative to `folder`, the tracks
    folder, where the session and the hub are written)."""
    found = {cell: TrackFiles.of(entry) for cell, entry in files.items()}
    tracks = catalogue(found, marks, bin_size)
    beds = [model.genes_bed for entry in found.values() for model in entry.models]
    locus = top_gene_locus(folder / beds[0]) if beds else "All"
    igv.write_session(tracks, genome, locus, folder / SESSION)
    hub.write_hub(tracks, genome, email, folder)
    log.info(
        "%d tracks of %d cell types on %s, opening at %s", len(tracks), len(found), genome, locus
    )
    return tracks
