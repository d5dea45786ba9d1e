"""The genes a model sees: those of both the annotation and the expression table.

Rules recorded here once:
- Chromosome names are matched to the chromosome sizes' by genome.match_chroms (`1` is
  `chr1`, `MT` is `chrM`, or the other way round) and written as the sizes spell them. An
  annotation whose names match none of the sizes' is an error.
- Genes on chromosomes missing from the chromosome sizes are dropped and logged; so are
  genes whose coordinates run past their chromosome's end, unless more than 1% do (then
  the annotation and the sizes come from different assemblies: an error).
- The annotation and the expression table must share most of their ids (at least half of
  the smaller one's): otherwise the run stops with an example id from each.
- Only genes present in both are kept, sorted by id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from attentivechrome.data.genome import match_chroms, no_shared_names
from attentivechrome.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class GeneSelection:
    genes: pd.DataFrame
    dropped: dict[str, list[str]] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"{len(self.genes)} genes kept"]
        for reason, ids in self.dropped.items():
            if ids:
                shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
                lines.append(f"{len(ids)} genes dropped ({reason}): {shown}")
        return "\n".join(lines)


#: Fewer shared ids than this share of the smaller file: the two files do not describe
#: the same genes (another annotation, or ids with version suffixes on one side only).
MIN_SHARED_IDS = 0.5
#: More genes than this share lying past their chromosome's end: the annotation and the
#: chromosome sizes come from different assemblies, and dropping them would hide that.
MAX_PAST_END = 0.01


def select_genes(
    genes: pd.DataFrame,
    expression: pd.DataFrame,
    chrom_sizes: dict[str, int],
    genes_path: str | Path = "gene_info",
    expression_path: str | Path = "expression matrix",
) -> GeneSelection:
    """Genes present in gene_info, the expression matrix and the genome, sorted by id.

    Genes whose coordinates run past their chromosome's end are dropped and logged, or
    stop the run when more than MAX_PAST_END of them do (a mismatch of assemblies).
    """
    check_shared_ids(genes["gene_id"], expression.index, genes_path, expression_path)
    genes = _sizes_spelling(genes, chrom_sizes, genes_path)
    in_matrix = genes["gene_id"].isin(expression.index)
    on_genome = genes["chrom"].isin(chrom_sizes.keys())
    size = genes["chrom"].map(chrom_sizes)
    past_end = on_genome & (genes[["start", "end"]].max(axis=1) > size)
    _check_past_end(genes, past_end, on_genome, size, genes_path)
    dropped = {
        "not in the expression matrix": sorted(genes.loc[~in_matrix, "gene_id"]),
        "on a chromosome missing from the sizes": sorted(
            genes.loc[in_matrix & ~on_genome, "gene_id"]
        ),
        "past the end of its chromosome": sorted(genes.loc[in_matrix & past_end, "gene_id"]),
        "in the expression matrix but not in gene_info": sorted(
            set(expression.index) - set(genes["gene_id"])
        ),
    }
    kept = genes[in_matrix & on_genome & ~past_end].sort_values("gene_id").reset_index(drop=True)
    return GeneSelection(kept[["gene_id", "chrom", "tss", "strand", "symbol"]], dropped)


def _sizes_spelling(genes: pd.DataFrame, chrom_sizes: dict[str, int], path) -> pd.DataFrame:
    """Genes with their chromosomes named as in the sizes (unmatched names kept as read)."""
    names = match_chroms(genes["chrom"].unique(), chrom_sizes)
    if not names:
        raise no_shared_names(path, genes["chrom"], chrom_sizes)
    return genes.assign(chrom=genes["chrom"].map(names).fillna(genes["chrom"]))


def check_shared_ids(
    gene_ids: pd.Series, expression_ids: pd.Index, genes_path, expression_path
) -> None:
    """Stop when the annotation and the expression table hardly share a gene id."""
    ours, theirs = set(gene_ids), set(expression_ids)
    shared = len(ours & theirs)
    if shared >= MIN_SHARED_IDS * min(len(ours), len(theirs)):
        return
    raise InputError(
        expression_path,
        f"only {shared} of its {len(theirs)} gene ids are in {genes_path} "
        f"({len(ours)} ids), e.g. {min(map(str, theirs))!r} here and "
        f"{min(map(str, ours))!r} there",
    )


def _check_past_end(genes, past_end, on_genome, size, path) -> None:
    if not past_end.any():
        return
    first = genes[past_end].iloc[0]
    example = (
        f"e.g. {first['gene_id']} ends at {max(first['start'], first['end'])} on "
        f"{first['chrom']} of {int(size[first.name])} bp (line {first['line']})"
    )
    if past_end.sum() > MAX_PAST_END * on_genome.sum():
        raise InputError(
            path,
            f"{int(past_end.sum())} of {int(on_genome.sum())} genes lie past the end of their "
            f"chromosome, {example}: the annotation and the chromosome sizes seem to come "
            "from different assemblies",
        )
    log.warning(
        "%s: %d genes lie past their chromosome's end and are dropped, %s",
        path,
        int(past_end.sum()),
        example,
    )
