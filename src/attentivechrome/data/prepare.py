"""The pipeline's data steps, one function per Snakemake rule, free of Snakemake itself."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data import annotation, counting, depth, labels, windows
from attentivechrome.data.dataset import SplitData, import_authors_csv, write_authors_csv, write_npz
from attentivechrome.data.expression import check_expressed, read_expression
from attentivechrome.data.gene_selection import select_genes
from attentivechrome.data.genome import load_chrom_sizes, write_chrom_sizes
from attentivechrome.errors import InputError, reported_as
from attentivechrome.io import atomic_path

log = logging.getLogger(__name__)


def reference_chrom_sizes(spec: str, local: Path | None, out: Path) -> dict[str, int]:
    """The genome's chromosome sizes: a built-in genome, or the user's file (`local`, the
    copy of `spec`), checked and written as a two-column file."""
    with reported_as(spec, local or spec):
        sizes = load_chrom_sizes(local or spec)
    write_chrom_sizes(sizes, out)
    log.info("%d chromosomes from %s", len(sizes), spec)
    return sizes


def reference_genes(
    gene_info: Path,
    expression: Path,
    chrom_sizes: Path,
    window: dict,
    split: dict,
    genes_out: Path,
    expression_out: Path,
    bins_out: Path,
    sources: dict | None = None,
    cells: list[str] | None = None,
    *,
    gene_entries: str,
) -> pd.DataFrame:
    """Choose the genes, their TSS and split once for every cell type.

    `cells`, the configured cell types, must be columns of numbers of the expression table,
    not all 0 over the kept genes (a failed quantification): checked here, before any reads
    are counted.

    `gene_info` is the annotation: gene_info, GTF or GFF3 (GTF/GFF3 genes filtered by
    `sources.gene_types`); `expression` any table of `sources.expression_id_column` and
    cell types. Writes the gene table, their expression (all cell types, so adding a cell
    type later does not redo this step and everything after it; ids without versions, first
    column `gene_id`) and the bins BED.

    `gene_entries`: `ids`, each gene one entry of the gene list, or `annotation_rows`, a gene
    as many entries as the annotation has rows of its id (the published REMC list). The
    entries place the split boundaries here and give the labels' median (column `entries`).
    """
    sources = sources or {}
    gene_info_name = sources.get("genes", gene_info)
    sizes = load_chrom_sizes(chrom_sizes)
    expression_name = sources.get("expression", expression)
    gene_types = sources.get("gene_types", annotation.DEFAULT_GENE_TYPES)
    with reported_as(gene_info_name, gene_info):
        genes_read = annotation.read_annotation(gene_info, gene_types)
        info = annotation.deduplicate_genes(genes_read, gene_info_name)
    with reported_as(expression_name, expression):
        id_column = sources.get("expression_id_column")
        matrix = read_expression(expression, id_column=id_column)
        if cells and not set(cells) <= set(matrix.columns):
            # Read again for the error naming the missing column or the first bad value.
            read_expression(expression, cells=cells, id_column=id_column)
    selection = select_genes(info, matrix, sizes, gene_info_name, expression_name)
    log.info("%s", selection.report())
    kept = matrix.loc[selection.genes["gene_id"]]
    check_expressed(kept, cells or [], expression_name)
    genes = selection.genes.copy()
    genes["entries"] = 1
    if gene_entries == "annotation_rows":
        rows = genes_read["gene_id"].value_counts()
        genes["entries"] = genes["gene_id"].map(rows).astype(int)
        log.info(
            "gene_entries: annotation_rows: %d genes, %d entries (ids listed twice: %s)",
            len(genes),
            genes["entries"].sum(),
            ", ".join(genes.loc[genes["entries"] > 1, "gene_id"]) or "none",
        )
    genes["split"] = labels.assign_splits(
        genes["gene_id"], split["train"], split["valid"], genes["entries"]
    )
    log.info("split: %s", genes["split"].value_counts().reindex(labels.SPLITS).to_dict())
    windows.write_bins_bed(
        windows.gene_bins(genes, sizes, window["flank"], window["bin_size"]), bins_out
    )
    with atomic_path(expression_out) as tmp:
        kept.to_csv(tmp, sep="\t")
    with atomic_path(genes_out) as tmp:
        genes.to_csv(tmp, sep="\t", index=False)
    return genes


def read_genes(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"gene_id": str, "chrom": str})


def bins_count(
    bams: list[Path],
    marks: list[str],
    genes: Path,
    chrom_sizes: Path,
    window: dict,
    counter: str,
    out: Path,
    read_filter: dict | None = None,
    threads: int = 1,
    sources: list[str] | None = None,
    cell: str = "",
) -> None:
    """Count reads per gene bin for one cell type; `marks[i]` is the mark of `bams[i]`.

    A mark with several BAMs (replicates) gets the sum of their counts. Marks are stored
    in alphabetical order; `read_filter` holds ReadFilter's fields (multicov's switches).
    `threads`: multicov runs that many BAMs at once (the fast counter uses one).
    `sources[i]`, the user's file of `bams[i]`, is what messages name. Refused before
    counting: a BAM aligned to another assembly (counting.check_assembly); after: a mark
    that counted no read (depth.check_every_mark_counted). Each mark's reads-in-bins are
    saved beside the counts for the comparison across cell types (read_depth)."""
    sources = [str(s) for s in sources] if sources else [str(b) for b in bams]
    gene_table = read_genes(genes)
    flank, bin_size = window["flank"], window["bin_size"]
    sizes = load_chrom_sizes(chrom_sizes)
    bins = windows.gene_bins(gene_table, sizes, flank, bin_size)
    reads = counting.ReadFilter(**(read_filter or {}))
    counting.check_assembly(bams, sources, sizes)
    if counter == "multicov":
        per_bam = counting.count_multicov(bams, bins, reads, processes=threads)
        tallied = {}
    else:
        per_bam, found = counting.count_and_tally(bams, bins, reads, sizes)
        tallied = dict(enumerate(found))
        for i, (source, tally) in enumerate(zip(sources, found, strict=True)):
            log.info("%s: %s", source, tally.describe(reads, int(per_bam[:, i].sum())))

    def tallies(columns: list[int]) -> dict[int, counting.ReadTally]:
        """The tallies of these BAMs: the counting pass's, or (multicov) a pass of their own."""
        missing = [c for c in columns if c not in tallied]
        if missing:
            found = counting.count_and_tally([bams[c] for c in missing], bins, reads, sizes)[1]
            tallied.update(zip(missing, found, strict=True))
        return {c: tallied[c] for c in columns}

    depth.check_every_mark_counted(per_bam, marks, sources, tallies, reads, cell)
    names = sorted(set(marks))
    counts = np.stack(
        [per_bam[:, [m == name for m in marks]].sum(axis=1) for name in names], axis=1
    )
    n_bins = windows.bins_per_gene(flank, bin_size)
    X = counts.reshape(len(gene_table), n_bins, len(names)).transpose(0, 2, 1)
    log.info(
        "counted %d reads-in-bins over %d genes with the %s counter, %d BAMs for %d marks",
        int(X.sum()),
        len(gene_table),
        counter,
        len(bams),
        len(names),
    )
    with atomic_path(out) as tmp:
        np.savez(
            tmp,
            X=X.astype(np.int32),
            gene_ids=gene_table["gene_id"].to_numpy(str),
            marks=np.array(names),
            reads_in_bins=X.sum(axis=(0, 2), dtype=np.int64),
        )


def datasets_build(
    counts: Path,
    genes: Path,
    expression: Path,
    cell: str,
    out_dir: Path,
    expression_source: str | None = None,
) -> None:
    """Label genes by the cell type's median RPKM and write each split (CSV + binary).

    `expression` is the table reference_genes stored (`gene_id` first, cell types only).
    """
    gene_table = read_genes(genes)
    matrix = read_expression(expression)
    if cell not in matrix.columns:
        raise InputError(
            expression_source or expression,
            f"cell type {cell} is not a column of the expression matrix "
            f"(columns: {', '.join(map(str, matrix.columns))}; columns that are not "
            "numbers throughout are left out, see the log of reference_genes)",
            line=1,
        )
    y = cell_labels(matrix, gene_table, cell)
    with np.load(counts) as archive:
        X, gene_ids, marks = archive["X"], archive["gene_ids"], archive["marks"]
    if not np.array_equal(gene_ids, gene_table["gene_id"].to_numpy(str)):
        raise ValueError(f"{counts} and {genes} list different genes: rerun the counting step")
    for split in labels.SPLITS:
        keep = (gene_table["split"] == split).to_numpy()
        data = SplitData(gene_ids[keep], marks, X[keep], y[keep])
        write_authors_csv(data, out_dir / f"{split}.csv")
        write_npz(data, out_dir / f"{split}.npz")
        log.info("%s: %d genes, %d labelled 1", split, keep.sum(), data.y.sum())


def cell_labels(matrix: pd.DataFrame, gene_table: pd.DataFrame, cell: str) -> np.ndarray:
    """Each gene's label in `cell`: above the median expression over the gene list's
    entries (gene_table's order)."""
    rpkm = matrix[cell].reindex(gene_table["gene_id"])
    entries = gene_table["entries"].set_axis(rpkm.index)
    y = labels.label_by_median(rpkm, entries).to_numpy()
    log.info(
        "%s: median RPKM %.4g over %d entries, %d of %d genes labelled 1",
        cell,
        labels.entries_median(rpkm, entries),
        entries.sum(),
        y.sum(),
        len(y),
    )
    return y


def datasets_import(sources: list[Path], marks: list[str], n_bins: int, out_dir: Path) -> None:
    """The authors' train/valid/test CSVs, checked and written as the pipeline's splits."""
    for source in sources:
        data = import_authors_csv(source, marks, n_bins, out_dir / source.stem)
        log.info("%s: %d genes, %d labelled 1", source, len(data.y), data.y.sum())
