"""The tracks of a run, labelled once for the IGV session and the UCSC track hub.

Each track is one file under the tracks folder, named by a path relative to it, so that the
session, the hub and the files can be moved or served together. Tracks are grouped by cell
type, in the configuration's order; within a cell type: the coverage of each mark (pooled,
then its replicates), then for its own models and for each prediction of it (`predict`)
the attention of each mark and the genes coloured by the prediction (the probability, or a
regression's percentile).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Mark colours (r,g,b), in the configuration's mark order (matplotlib's tab10).
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]
#: UCSC's limits on a track's labels.
SHORT_LABEL = 17
LONG_LABEL = 80


@dataclass(frozen=True)
class Track:
    cell: str
    kind: str  # coverage, attention or genes
    path: str  # relative to the tracks folder
    name: str  # what IGV shows, and the hub's long label
    short_label: str  # the hub's short label (the cell type is its group's)
    color: tuple[int, int, int]
    #: The file a UCSC hub names, when not `path`: hubs take indexed files only (bigBed).
    hub_path: str = ""

    @property
    def hub_file(self) -> str:
        return self.hub_path or self.path

    @property
    def file_type(self) -> str:
        """UCSC's type (IGV tells it by the file name)."""
        return "bigBed 9" if self.kind == "genes" else "bigWig"

    def rgb(self) -> str:
        return ",".join(map(str, self.color))


@dataclass(frozen=True)
class ModelTracks:
    """One AttentiveChrome scoring of a cell type: its attention bigWigs and its genes."""

    label: str  # which models: `mean of seeds 1, 2`, `predicted by DEMO1 (seeds 1, 2)`
    attention: Mapping[str, str]  # mark -> attention bigWig
    genes_bed: str  # the BED9, for IGV
    genes_bigbed: str  # the same as bigBed, for UCSC
    predicted: bool = False  # a prediction (rule predict_cell), not the cell's own training


@dataclass(frozen=True)
class TrackFiles:
    """What the rules wrote for one cell type, as paths relative to the tracks folder."""

    coverage: Mapping[str, str]  # mark -> its pooled (or only) CPM bigWig
    replicates: Mapping[str, Sequence[tuple[str, str]]]  # mark -> (replicate, bigWig)
    models: Sequence[ModelTracks] = ()

    @classmethod
    def of(cls, entry: Mapping) -> TrackFiles:
        """From plain values (what a rule's params hold)."""
        models = [ModelTracks(**model) for model in entry.get("models", ())]
        return cls(entry["coverage"], entry["replicates"], models)


def seeds_label(seeds: Sequence[int]) -> str:
    """Which seeds a track shows: `seed 1`, or `mean of seeds 1, 2`."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return "mean of seeds " + ", ".join(str(seed) for seed in seeds)


def predicted_label(models: Sequence[str]) -> str:
    """Which models scored a predicted sample: `predicted by DEMO1`, `predicted by the mean
    of DEMO1, E003`."""
    return "predicted by " + ("the mean of " if len(models) > 1 else "") + ", ".join(models)


def catalogue(files: Mapping[str, TrackFiles], marks: Sequence[str], bin_size: int) -> list[Track]:
    """Every track of `files` (by cell type), labelled."""
    colours = {mark: PALETTE[i % len(PALETTE)] for i, mark in enumerate(marks)}
    tracks = []
    for cell, found in files.items():
        for mark in marks:
            if mark not in found.coverage:
                continue
            colour = colours[mark]
            replicates = found.replicates.get(mark, ())
            pooled = f" ({len(replicates)} replicates pooled)" if replicates else ""
            tracks.append(
                Track(
                    cell,
                    "coverage",
                    found.coverage[mark],
                    f"{cell} {mark} CPM{pooled}, {bin_size}-bp bins",
                    f"{mark} CPM",
                    colour,
                )
            )
            for replicate, path in replicates:
                tracks.append(
                    Track(
                        cell,
                        "coverage",
                        path,
                        f"{cell} {mark} {replicate} CPM, {bin_size}-bp bins",
                        f"{mark} {replicate}",
                        colour,
                    )
                )
        for model in found.models:
            suffix = " pred" if model.predicted else ""
            for mark in marks:
                tracks.append(
                    Track(
                        cell,
                        "attention",
                        model.attention[mark],
                        f"{cell} {mark} AttentiveChrome bin attention ({model.label})",
                        f"{mark} attn{suffix}",
                        colours[mark],
                    )
                )
            tracks.append(
                Track(
                    cell,
                    "genes",
                    model.genes_bed,
                    f"{cell} genes coloured by AttentiveChrome's prediction ({model.label})",
                    f"genes{suffix}",
                    (0, 0, 0),
                    hub_path=model.genes_bigbed,
                )
            )
    return tracks


def track_ids(names: Sequence[str]) -> list[str]:
    """UCSC track names for `names`: letters, digits and `_`, unique (`_2` added)."""
    ids, seen = [], set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "track"
        candidate, n = base, 1
        while candidate in seen:
            n += 1
            candidate = f"{base}_{n}"
        seen.add(candidate)
        ids.append(candidate)
    return ids
