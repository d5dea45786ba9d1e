"""Attention tracks: each base shows the bin attention of the gene whose TSS is nearest;
the BED9 of predictions; the mean over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from attentivechrome.errors import InputError
from attentivechrome.tracks.attention import (
    nearest_tss_parts,
    probability_colour,
    tracks_attention,
)
from attentivechrome.tracks.catalogue import predicted_label, seeds_label

SIZES = {"chr1": 30_000, "chr2": 12_000}
FLANK, BIN = 1_000, 100
N_BINS = 2 * FLANK // BIN
MARKS = ["H3K27me3", "H3K4me3"]
# Windows of G2 and G3 overlap (TSSs 1,500 apart; a tie base at 10,750), G4 and G5 share a
# TSS, G1 is clipped at the chromosome start, G6 at the end of chr2.
GENES = pd.DataFrame(
    {
        "gene_id": ["G1", "G2", "G3", "G5", "G4", "G6"],
        "symbol": ["ONE", "TWO", "THREE", "FIVE", np.nan, "SIX"],
        "chrom": ["chr1", "chr1", "chr1", "chr1", "chr1", "chr2"],
        "tss": [300, 10_000, 11_500, 20_000, 20_000, 11_800],
        "strand": ["+", "-", "+", "+", "-", "-"],
        "split": ["train", "valid", "test", "test", "test", "train"],
        "label": [1, 0, 1, 0, 1, 0],
        "probability": [0.9, 0.1, 0.5, 0.7, 0.2, 1.0],
        "rank": [2, 6, 4, 3, 5, 1],
    }
)


def write_run(folder, genes, attention, probability=None):
    folder.mkdir(parents=True, exist_ok=True)
    table = genes if probability is None else genes.assign(probability=probability)
    table.to_csv(folder / "predictions.tsv", sep="\t", index=False)
    np.savez(
        folder / "gene_attention.npz",
        gene_ids=genes["gene_id"].to_numpy(str),
        marks=np.array(MARKS),
        bin_attention=attention.astype(np.float32),
        mark_attention=np.full((len(genes), len(MARKS)), 0.5, dtype=np.float32),
    )
    return folder / "predictions.tsv", folder / "gene_attention.npz"


def expected_values(attention: np.ndarray, mark: int, chrom: str, length: int) -> np.ndarray:
    """By hand, at every base: the bin attention of the nearest gene (argmin over genes
    sorted by TSS and id: ties to the lower TSS, a shared TSS to the first id) in its bin
    holding the base, 0 outside every window."""
    on = GENES[GENES["chrom"] == chrom].sort_values(["tss", "gene_id"])
    base = np.arange(length)
    nearest = np.abs(base[None, :] - on["tss"].to_numpy()[:, None]).argmin(axis=0)
    offset = base - (on["tss"].to_numpy()[nearest] - FLANK)
    rows = np.array([GENES.index.get_loc(i) for i in on.index])[nearest]
    inside = (offset >= 0) & (offset < 2 * FLANK)
    values = np.zeros(length)
    values[inside] = attention[rows[inside], mark, offset[inside] // BIN]
    return values


@pytest.fixture
def outputs(tmp_path):
    rng = np.random.default_rng(5)
    runs = []
    for seed in (1, 2):
        attention = rng.random((len(GENES), len(MARKS), N_BINS)) + 0.1
        probability = GENES["probability"] if seed == 1 else 1 - GENES["probability"] / 2
        runs.append((write_run(tmp_path / f"seed{seed}", GENES, attention, probability), attention))
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    bigwigs = {mark: tmp_path / f"{mark}.bw" for mark in MARKS}
    bed, bigbed = tmp_path / "predictions.bed", tmp_path / "predictions.bb"
    tracks_attention(
        [paths[0] for paths, _ in runs],
        [paths[1] for paths, _ in runs],
        sizes,
        FLANK,
        BIN,
        bigwigs,
        bed,
        bigbed,
    )
    mean = np.mean([attention for _, attention in runs], axis=0)
    return bigwigs, bed, bigbed, mean, runs


def test_each_base_shows_the_gene_with_the_nearest_tss(outputs):
    bigwigs, _, _, mean, _ = outputs
    for m, mark in enumerate(MARKS):
        with pyBigWig.open(str(bigwigs[mark])) as bigwig:
            assert bigwig.chroms() == SIZES
            for chrom, length in SIZES.items():
                values = np.nan_to_num(bigwig.values(chrom, 0, length, numpy=True))
                want = expected_values(mean, m, chrom, length)
                np.testing.assert_allclose(values, want, rtol=1e-6, err_msg=f"{mark} {chrom}")
            # The tie: 10,750 is 750 bases from both G2 and G3, and shows G2's bin 18 of 20.
            tie = bigwig.values("chr1", 10_750, 10_752)
            assert tie == pytest.approx([mean[1, m, 17], mean[2, m, 2]], rel=1e-6)


def test_parts_meet_halfway_and_a_shared_tss_draws_the_first_id():
    parts = nearest_tss_parts(GENES, SIZES, FLANK)
    assert parts.to_dict("list") == {
        "start": [0, 9_000, 10_751, 19_000, 19_000, 10_800],
        "end": [1_300, 10_751, 12_500, 19_000, 21_000, 12_000],
    }


def test_bed9_of_the_genes_coloured_by_mean_probability(outputs):
    _, bed, bigbed, _, _ = outputs
    rows = pd.read_csv(bed, sep="\t", header=None, dtype={0: str})
    # By position, genes of one window in the predictions' order; G4 has no symbol.
    assert rows[3].tolist() == ["ONE", "TWO", "THREE", "FIVE", "G4", "SIX"]
    assert rows[1].tolist() == [0, 9_000, 10_500, 19_000, 19_000, 10_800]
    assert rows[2].tolist() == [1_300, 11_000, 12_500, 21_000, 21_000, 12_000]
    # Mean of seed 1 (p) and seed 2 (1 - p/2): 0.5 + p/4.
    probability = (
        0.5
        + GENES.set_index("gene_id")
        .loc[["G1", "G2", "G3", "G5", "G4", "G6"]]["probability"]
        .to_numpy()
        / 4
    )
    assert rows[4].tolist() == np.rint(1000 * probability).astype(int).tolist()
    assert (rows[7] == rows[6] + 1).all() and rows[6].tolist()[:3] == [300, 10_000, 11_500]
    assert rows[8].tolist() == probability_colour(probability)
    with pyBigWig.open(str(bigbed)) as indexed:
        entries = indexed.entries("chr1", 0, SIZES["chr1"])
        assert [e[2].split("\t") for e in entries] == rows[rows[0] == "chr1"].iloc[:, 3:].astype(
            str
        ).values.tolist()


def test_colour_ramp_and_labels():
    assert probability_colour([0, 0.5, 1, 1.5]) == [
        "33,102,172",
        "200,200,200",
        "178,24,43",
        "178,24,43",
    ]
    assert seeds_label([3]) == "seed 3" and seeds_label([1, 2]) == "mean of seeds 1, 2"
    assert predicted_label(["DEMO1"]) == "predicted by DEMO1"
    assert predicted_label(["A", "E003"]) == "predicted by the mean of A, E003"


def test_runs_of_other_genes_are_refused(outputs, tmp_path):
    _, _, _, _, runs = outputs
    (first, _), attention = runs[0]
    other = write_run(tmp_path / "other", GENES.iloc[::-1], attention[::-1])
    sizes = tmp_path / "chrom.sizes"
    with pytest.raises(InputError, match="other genes or marks"):
        tracks_attention(
            [first, other[0]],
            [runs[0][0][1], other[1]],
            sizes,
            FLANK,
            BIN,
            {m: tmp_path / f"x{m}.bw" for m in MARKS},
            tmp_path / "x.bed",
            tmp_path / "x.bb",
        )
    assert not list(tmp_path.glob("x*"))


def test_regression_genes_are_coloured_by_their_level_percentile(tmp_path):
    """A regression run's predictions.tsv has predicted levels: the mean over the seeds,
    ranked among the genes, gives the score and colour (lowest 0, highest 1000)."""
    regression = GENES.drop(columns="probability").assign(
        level=[5.0, 1.0, 3.0, 2.0, 0.0, 4.0], prediction=[4.0, 0.5, 2.5, 3.5, 1.0, 6.0]
    )
    regression = regression[[*GENES.columns[:7], "level", "prediction", "rank"]]
    attention = np.full((len(GENES), len(MARKS), N_BINS), 1 / N_BINS)
    runs = [
        write_run(tmp_path / "seed1", regression, attention),
        write_run(
            tmp_path / "seed2",
            regression.assign(prediction=regression["prediction"] + 1),
            attention,
        ),
    ]
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    bed, bigbed = tmp_path / "genes.bed", tmp_path / "genes.bb"
    bigwigs = {mark: tmp_path / f"{mark}.bw" for mark in MARKS}
    tracks_attention(
        [r[0] for r in runs], [r[1] for r in runs], sizes, FLANK, BIN, bigwigs, bed, bigbed
    )
    rows = pd.read_csv(bed, sep="\t", header=None).set_index(3)
    # Predicted order G2 < G4 < G3 < G5 < G1 < G6: percentiles 0, 0.2, ..., 1.
    expected = {"TWO": 0, "G4": 200, "THREE": 400, "FIVE": 600, "ONE": 800, "SIX": 1000}
    assert rows[4].to_dict() == expected
    assert rows.loc["SIX", 8] == probability_colour([1.0])[0]
    assert rows.loc["THREE", 8] == probability_colour([0.4])[0]
