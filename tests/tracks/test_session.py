"""The IGV session and the UCSC track hub over a run's tracks: labels, grouping and
structure (every file they name exists, every stanza has its required fields)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from attentivechrome.tracks.catalogue import track_ids
from attentivechrome.tracks.session import tracks_session
from helpers import check_igv_session, check_track_hub

MARKS = ["H3K4me3", "H3K27ac"]


def files_of(cell: str, replicated: bool, predicted: bool) -> dict:
    pairs = [("rep1", f"{cell}/H3K27ac.rep1.cpm.bw"), ("rep2", f"{cell}/H3K27ac.rep2.cpm.bw")]
    models = [("mean of seeds 1, 2", cell, False)]
    if predicted:
        models.append(("predicted by DEMO1", f"predict/{cell}", True))
    return {
        "coverage": {mark: f"{cell}/{mark}.cpm.bw" for mark in MARKS},
        "replicates": {"H3K27ac": pairs} if replicated else {},
        "models": [
            {
                "label": label,
                "attention": {mark: f"{folder}/attention/{mark}.bw" for mark in MARKS},
                "genes_bed": f"{folder}/predictions.bed",
                "genes_bigbed": f"{folder}/predictions.bb",
                "predicted": is_predicted,
            }
            for label, folder, is_predicted in models
        ],
    }


def make_files(folder, files):
    for entry in files.values():
        paths = [*entry["coverage"].values()]
        paths += [path for pairs in entry["replicates"].values() for _, path in pairs]
        for model in entry["models"]:
            paths += [*model["attention"].values(), model["genes_bigbed"]]
            (folder / model["genes_bed"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / model["genes_bed"]).write_text(
                "chr1\t100\t10100\tA\t300\t+\t5100\t5101\t0,0,0\n"
                "chr2\t900\t10900\tB\t800\t-\t5900\t5901\t0,0,0\n"
            )
        for path in paths:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(b"")


def test_session_and_hub_over_every_track(tmp_path):
    files = {"OWN1": files_of("OWN1", True, False), "OWN2.b": files_of("OWN2.b", False, True)}
    make_files(tmp_path, files)
    tracks = tracks_session(files, MARKS, 50, "hg38", "me@example.org", tmp_path)
    # Coverage (2 marks, OWN1's H3K27ac with 2 replicates), attention and genes per model.
    assert len(tracks) == (2 + 2 + 3) + (2 + 3 + 3)
    panels = check_igv_session(tmp_path / "igv_session.xml")
    assert list(panels) == ["OWN1", "OWN2.b"]
    assert panels["OWN1"] == [
        "OWN1 H3K4me3 CPM, 50-bp bins",
        "OWN1 H3K27ac CPM (2 replicates pooled), 50-bp bins",
        "OWN1 H3K27ac rep1 CPM, 50-bp bins",
        "OWN1 H3K27ac rep2 CPM, 50-bp bins",
        "OWN1 H3K4me3 AttentiveChrome bin attention (mean of seeds 1, 2)",
        "OWN1 H3K27ac AttentiveChrome bin attention (mean of seeds 1, 2)",
        "OWN1 genes coloured by AttentiveChrome's prediction (mean of seeds 1, 2)",
    ]
    session = ET.parse(tmp_path / "igv_session.xml").getroot()
    # It opens at the gene predicted most likely expressed (score 800), 1-based.
    assert session.get("genome") == "hg38" and session.get("locus") == "chr2:901-10900"
    stanzas = check_track_hub(tmp_path)
    assert (tmp_path / "genomes.txt").read_text() == "genome hg38\ntrackDb trackDb.txt\n"
    assert "email me@example.org" in (tmp_path / "hub.txt").read_text()
    groups = [s for s in stanzas if "superTrack" in s]
    assert [g["track"] for g in groups] == ["OWN1", "OWN2_b"]
    genes = [s for s in stanzas if s.get("type") == "bigBed 9"]
    assert [g["bigDataUrl"] for g in genes] == [
        "OWN1/predictions.bb",
        "OWN2.b/predictions.bb",
        "predict/OWN2.b/predictions.bb",
    ]
    assert panels["OWN2.b"][-1] == (
        "OWN2.b genes coloured by AttentiveChrome's prediction (predicted by DEMO1)"
    )
    assert all(g["itemRgb"] == "on" for g in genes)
    pooled = next(s for s in stanzas if s.get("bigDataUrl") == "OWN1/H3K27ac.cpm.bw")
    assert pooled["parent"] == "OWN1" and pooled["shortLabel"] == "H3K27ac CPM"


def test_track_ids_are_unique_names():
    assert track_ids(["A.b", "A-b", "A_b", "é"]) == ["A_b", "A_b_2", "A_b_3", "track"]
