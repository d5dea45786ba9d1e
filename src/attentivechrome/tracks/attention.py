"""Attention and prediction tracks of an AttentiveChrome run: one bigWig per mark of the
model's bin attention over each scored gene's window, and a BED9 of the genes coloured by
their predicted probability of expression.

The bins are the model's (window.bin_size over TSS +/- flank, genomic order on both
strands, clipped at chromosome ends as data.windows clips them). The values are the
attention weights themselves (a gene's weights over its bins sum to 1 for each mark; 1/n
everywhere is no preference), or their mean over the seeds when several are given, which
is also a distribution.

Neighbouring genes whose windows overlap: a bigWig holds one value per base, so each base
goes to the gene whose TSS is nearest (a base exactly halfway goes to the gene with the
lower TSS) and bins are cut where the genes' parts meet. Genes that share one TSS (the same
position on one chromosome) are one window for the model's inputs; the first by gene id is
drawn, the others left out of the attention tracks (they stay in the BED9) and logged.

BED9: the window of each gene (chrom, start, end), name the symbol (the gene id when there
is none), score 1000 x the probability, the gene's strand, the TSS as the thick part, and
itemRgb from blue (0) through grey (0.5) to red (1). With several seeds the probability is
their mean. For a regression run (predictions.tsv's `prediction`, a predicted level) score
and colour take the gene's percentile among the genes by predicted level (of the mean over
the seeds) in place of the probability: 0 the lowest, 0.5 the median, 1 the highest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.genome import load_chrom_sizes
from attentivechrome.data.windows import bins_per_gene, gene_windows
from attentivechrome.errors import InputError
from attentivechrome.learn.outputs import read_gene_predictions
from attentivechrome.tracks.bigwig import write_bed9, write_bigwig

log = logging.getLogger(__name__)

#: Colours of probability 0, 0.5 and 1 (blue, grey, red).
RAMP = np.array([[33, 102, 172], [200, 200, 200], [178, 24, 43]], dtype=float)


def probability_colour(probability: np.ndarray) -> list[str]:
    """itemRgb strings along RAMP: blue at 0, grey at 0.5, red at 1."""
    p = np.clip(np.asarray(probability, dtype=float), 0, 1)
    low = p < 0.5
    t = np.where(low, p * 2, (p - 0.5) * 2)[:, None]
    rgb = np.where(
        low[:, None], RAMP[0] + t * (RAMP[1] - RAMP[0]), RAMP[1] + t * (RAMP[2] - RAMP[1])
    )
    return [",".join(str(int(v)) for v in row) for row in np.rint(rgb).astype(int)]


def nearest_tss_parts(genes: pd.DataFrame, chrom_sizes: dict[str, int], flank: int) -> pd.DataFrame:
    """Where each gene's attention is drawn: its window cut to the bases whose nearest TSS
    is its own (columns start, end; start == end for a gene whose TSS an earlier gene id
    has). Rows in the genes' order."""
    windows = gene_windows(genes, chrom_sizes, flank)
    left = np.zeros(len(genes), dtype=np.int64)
    right = np.zeros(len(genes), dtype=np.int64)
    order = genes.assign(_row=np.arange(len(genes))).sort_values(["chrom", "tss", "gene_id"])
    for chrom, group in order.groupby("chrom", sort=False):
        rows = group["_row"].to_numpy()
        tss = group["tss"].to_numpy(dtype=np.int64)
        drawn = np.concatenate(([True], tss[1:] != tss[:-1]))
        rows, tss = rows[drawn], tss[drawn]
        # The first base nearer the next TSS than this one: ties stay with the lower TSS.
        meet = (tss[:-1] + tss[1:]) // 2 + 1
        left[rows] = np.concatenate(([0], meet))
        right[rows] = np.concatenate((meet, [chrom_sizes[str(chrom)]]))
    start = np.maximum(windows["start"].to_numpy(), left)
    end = np.maximum(np.minimum(windows["end"].to_numpy(), right), start)
    return pd.DataFrame({"start": start, "end": end})


def attention_entries(
    genes: pd.DataFrame,
    attention: np.ndarray,
    chrom_sizes: dict[str, int],
    flank: int,
    bin_size: int,
):
    """bigWig entries (tracks.bigwig.Entries) of one mark's bin attention, `attention`
    (genes, bins), each gene's bins cut to its nearest-TSS part."""
    n_bins = bins_per_gene(flank, bin_size)
    parts = nearest_tss_parts(genes, chrom_sizes, flank)
    bin_start = genes["tss"].to_numpy(dtype=np.int64)[:, None] - flank
    bin_start = bin_start + np.arange(n_bins, dtype=np.int64)[None, :] * bin_size
    start = np.maximum(bin_start, parts["start"].to_numpy()[:, None])
    end = np.minimum(bin_start + bin_size, parts["end"].to_numpy()[:, None])
    # Sorted once by (chromosome in the sizes' order, start), ties in the genes' order.
    index = {name: i for i, name in enumerate(chrom_sizes)}
    code = np.repeat(genes["chrom"].astype(str).map(index).to_numpy(dtype=np.int64), n_bins)
    start, end, values = start.ravel(), end.ravel(), attention.ravel()
    kept = end > start
    code, start, end, values = code[kept], start[kept], end[kept], values[kept]
    order = np.lexsort((start, code))
    code, start, end, values = code[order], start[order], end[order], values[order]
    bounds = np.searchsorted(code, np.arange(len(index) + 1))
    for i, name in enumerate(chrom_sizes):
        part = slice(bounds[i], bounds[i + 1])
        yield name, start[part], end[part], values[part]


def read_runs(
    predictions: Sequence[Path], attention: Sequence[Path]
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The genes (predictions.tsv's columns, probability, or a regression's prediction, the
    mean over the runs), the bin attention (genes, marks, bins) averaged over the runs, and
    the marks; every run must list the same genes in the same order, and the same marks."""
    first = None
    probabilities, weights = [], []
    score = None
    for table_path, npz_path in zip(predictions, attention, strict=True):
        table = read_gene_predictions(table_path)
        with np.load(npz_path) as archive:
            gene_ids = archive["gene_ids"].astype(str)
            marks = [str(m) for m in archive["marks"]]
            bin_attention = archive["bin_attention"].astype(np.float64)
        if list(gene_ids) != list(table["gene_id"]):
            raise InputError(npz_path, f"its genes are not those of {table_path}, in order")
        if first is None:
            first = (table, marks)
        elif list(table["gene_id"]) != list(first[0]["gene_id"]) or marks != first[1]:
            raise InputError(table_path, f"other genes or marks than {predictions[0]}")
        column = "prediction" if "prediction" in table else "probability"
        if score not in (None, column):
            raise InputError(table_path, f"a {column} where {predictions[0]} has a {score}")
        score = column
        probabilities.append(table[column].to_numpy(dtype=float))
        weights.append(bin_attention)
    genes, marks = first
    genes = genes.assign(**{score: np.mean(probabilities, axis=0)})
    weights = np.mean(weights, axis=0)
    # Genes of a sample scored from a matrix may lack a place in the run's gene table.
    placed = (genes["chrom"].notna() & genes["tss"].notna()).to_numpy()
    if not placed.all():
        log.info("%d genes without a chromosome and TSS left out", int((~placed).sum()))
        genes, weights = genes[placed].reset_index(drop=True), weights[placed]
    return genes.astype({"tss": np.int64}), weights, marks


def prediction_bed9(genes: pd.DataFrame, chrom_sizes: dict[str, int], flank: int) -> pd.DataFrame:
    """The BED9 rows of the genes (module docstring)."""
    windows = gene_windows(genes, chrom_sizes, flank)
    if "probability" in genes:
        shade = genes["probability"]
    else:  # a regression's predicted levels, as percentiles among the genes
        shade = (genes["prediction"].rank() - 1) / max(len(genes) - 1, 1)
    symbol = genes["symbol"] if "symbol" in genes else pd.Series("", index=genes.index)
    name = symbol.fillna("").astype(str).where(symbol.fillna("") != "", genes["gene_id"])
    tss = genes["tss"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "chrom": genes["chrom"],
            "start": windows["start"],
            "end": windows["end"],
            "name": name,
            "score": np.rint(1000 * shade.clip(0, 1)).astype(int),
            "strand": genes["strand"],
            "thickStart": tss,
            "thickEnd": tss + 1,
            "itemRgb": probability_colour(shade),
        }
    )


def tracks_attention(
    predictions: Sequence[Path],
    attention: Sequence[Path],
    chrom_sizes: Path,
    flank: int,
    bin_size: int,
    bigwigs: dict[str, Path],
    bed: Path,
    bigbed: Path,
) -> None:
    """The attention bigWig of each mark (`bigwigs`, by mark) and the BED9 (plain and
    bigBed) of one cell type's runs, averaged over them."""
    sizes = load_chrom_sizes(chrom_sizes)
    genes, weights, marks = read_runs(predictions, attention)
    if set(marks) != set(bigwigs):
        raise InputError(attention[0], f"marks {', '.join(marks)}, not {', '.join(bigwigs)}")
    if weights.shape[2] != bins_per_gene(flank, bin_size):
        raise InputError(
            attention[0],
            f"{weights.shape[2]} bins per gene; the window (flank {flank}, bin size "
            f"{bin_size}) has {bins_per_gene(flank, bin_size)}",
        )
    unknown = sorted(set(genes["chrom"]) - set(sizes))
    if unknown:
        raise InputError(predictions[0], f"chromosomes {', '.join(unknown)} are not the genome's")
    shared = genes.duplicated(["chrom", "tss"], keep=False)
    if shared.any():
        log.info(
            "%d genes share a TSS with another: the first by gene id is drawn (%s)",
            int(shared.sum()),
            ", ".join(genes.loc[shared, "gene_id"].head(6)),
        )
    for m, mark in enumerate(marks):
        write_bigwig(
            bigwigs[mark], sizes, attention_entries(genes, weights[:, m], sizes, flank, bin_size)
        )
    write_bed9(prediction_bed9(genes, sizes, flank), sizes, bed, bigbed)
    log.info("%d genes, %d marks, from %d runs", len(genes), len(marks), len(predictions))
