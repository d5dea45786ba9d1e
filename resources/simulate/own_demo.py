"""A second simulated dataset, shaped like a lab's own GRCh38 data rather than Roadmap's.

Where `attentivechrome.demo` writes the Roadmap downloads, this module writes what a user
brings: a sample sheet, aligner-style BAM files (with the flags, mapping qualities and
CIGARs that read counting has to get right), one gzipped BED file, a FASTA index, a
GENCODE-style GTF and a comma-separated TPM table. Genes, expression, the planted programs
and read positions come from `attentivechrome.demo`; only the file forms are new here.
resources/own_demo/README.md lists the planted numbers.

Everything derives from one seed: regenerating gives byte-identical files (for a given
pysam/htslib build, which compresses the BAMs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from attentivechrome.io import atomic_path

from . import demo

CELLS = ("OWN1", "OWN2")
MARKS = ("H3K4me3", "H3K27ac", "H3K36me3", "H3K27me3")
READ_LENGTH = 50
MITO = ("chrM", 16_569)
UNPLACED = ("chrUn_KI270302v1", 2_274)  # a real GRCh38 unplaced contig and its length
#: Ensembl's names for the contigs that do not just drop the `chr` prefix.
ENSEMBL_RENAMES = {"chrM": "MT", "chrUn_KI270302v1": "KI270302.1"}

FAI_NAME = "genome.fa.fai"
GTF_NAME = "annotation.gtf.gz"
EXPRESSION_NAME = "expression_tpm.csv"
SAMPLES_NAME = "samples.tsv"
READS_DIR = "reads"
SAMPLE_COLUMNS = ("cell", "mark", "path", "format")
#: Where the sample sheet's paths start from: the repository root, as the pipeline runs there.
SHEET_PREFIX = Path("resources") / "own_demo"

# SAM flag bits.
PAIRED, PROPER, UNMAPPED, MATE_UNMAPPED = 0x1, 0x2, 0x4, 0x8
REVERSE, MATE_REVERSE, FIRST, SECOND = 0x10, 0x20, 0x40, 0x80
SECONDARY, QC_FAIL, DUPLICATE, SUPPLEMENTARY = 0x100, 0x200, 0x400, 0x800
GOOD_MAPQ = 60


@dataclass(frozen=True)
class ReadFile:
    """One row of the sample sheet and the file it points to."""

    cell: str
    mark: str
    name: str  # file name under reads/
    kind: str  # 'bam' (single-end, sorted, indexed), 'paired_bam' (see below) or 'bed'
    declared_format: str = ""  # the sheet's format column; empty = told from the content
    replicate: int = 1


#: The sample sheet, in order. OWN1 H3K27ac has two replicates; the second is the one
#: paired-end BAM: unsorted, unindexed and with Ensembl chromosome names.
READ_FILES = (
    ReadFile("OWN1", "H3K4me3", "OWN1-H3K4me3.bam", "bam"),
    ReadFile("OWN1", "H3K27ac", "OWN1-H3K27ac-rep1.bam", "bam"),
    ReadFile("OWN1", "H3K27ac", "OWN1-H3K27ac-rep2.bam", "paired_bam", replicate=2),
    ReadFile("OWN1", "H3K36me3", "OWN1-H3K36me3.bam", "bam"),
    ReadFile("OWN1", "H3K27me3", "OWN1-H3K27me3.bam", "bam"),
    ReadFile("OWN2", "H3K4me3", "OWN2-H3K4me3.bam", "bam", declared_format="bam"),
    ReadFile("OWN2", "H3K27ac", "OWN2-H3K27ac.bam", "bam"),
    ReadFile("OWN2", "H3K36me3", "OWN2-H3K36me3.bam", "bam"),
    ReadFile("OWN2", "H3K27me3", "OWN2-H3K27me3.bed.gz", "bed"),
)

#: Exact numbers of special records in every single-end BAM (README.md lists them too).
#: Duplicates, secondary, supplementary and unplaced-unmapped records are added to the
#: simulated reads; the other kinds change a simulated read. The kinds never overlap.
SINGLE_END_SPECIALS = {
    "duplicate": 250,  # a second read at the same place and strand, flagged 0x400
    "qc_fail": 60,  # 0x200
    "secondary": 40,  # another alignment of a read, elsewhere: 0x100, MAPQ 0
    "supplementary": 30,  # 30H20M elsewhere, 0x800; its primary becomes 30M20S
    "unmapped_placed": 8,  # 0x4 and no CIGAR, at the position the read had
    "unmapped_unplaced": 4,  # 0x4, no reference or position: last in the file
}
#: Paired-end file: counts of pairs, except secondary and supplementary (records).
PAIRED_END_SPECIALS = {
    "duplicate_pairs": 150,  # both mates 0x400
    "qc_fail_pairs": 30,  # both mates 0x200
    "far_pairs": 40,  # mate 2 moved 50-200 kb away: not proper
    "interchrom_pairs": 20,  # mate 2 on another chromosome: not proper, TLEN 0
    "mate_unmapped_pairs": 10,  # mate 2 unmapped, placed at mate 1; mate 1 has 0x8
    "secondary": 20,
    "supplementary": 20,
}
#: Primary mapped records (single-end) or mates of plain pairs given a low MAPQ; all
#: other mapped primary records have MAPQ 60.
LOW_MAPQ = {0: 400, 5: 120, 20: 150}
PAIRED_LOW_MAPQ = {0: 250, 5: 80, 20: 100}
#: Reads (single-end) or mates given another CIGAR than 50M, to exercise span rules.
ODD_CIGARS = {"5S45M": 25, "20M2D30M": 15, "25M1I24M": 10, "20M1000N30M": 10}
PAIRED_ODD_CIGARS = {"5S45M": 20}
SUPPLEMENTARY_PRIMARY_CIGAR, SUPPLEMENTARY_CIGAR = "30M20S", "30H20M"
FRAGMENT_MEAN, FRAGMENT_SD, FRAGMENT_RANGE = 220.0, 40.0, (120, 400)

#: GTF-only genes by type (no expression row), and expression-only ids by type.
GTF_ONLY_TYPES = {
    "protein_coding": 5,
    "lncRNA": 2,
    "processed_pseudogene": 20,
    "miRNA": 10,
    "snRNA": 6,
    "misc_RNA": 4,
}
EXPRESSION_ONLY_TYPES = {"protein_coding": 3, "lncRNA": 1}
#: Short gene types get realistic lengths (bp, inclusive range) instead of 1-80 kb.
SHORT_GENE_LENGTHS = {
    "miRNA": (60, 110),
    "snRNA": (100, 200),
    "misc_RNA": (80, 320),
    "processed_pseudogene": (300, 2_500),
}
NAME_PREFIXES = {
    "protein_coding": "PCG",
    "lncRNA": "LINC",
    "processed_pseudogene": "PSG",
    "miRNA": "MIR",
    "snRNA": "RNU",
    "misc_RNA": "MISC",
}
#: Two chrM genes at their GRCh38 places (ids outside the simulated range): MT-ND1 has
#: expression, so its window (clipped at chrM's start) needs the chrM <-> MT mapping.
MITO_GENES = (
    ("ENSG00000270001", "MT-ND1", "protein_coding", 3_307, 4_262),
    ("ENSG00000270002", "MT-RNR2", "Mt_rRNA", 1_671, 3_229),
)
ENSEMBL_SOURCED = {"miRNA", "snRNA", "misc_RNA", "Mt_rRNA"}  # GENCODE's 'ENSEMBL' source

#: H3K27ac follows H3K4me3's shape in every program at 60% of its depth.
H3K27AC_SHARE = 0.6
PROGRAM_MARKS = {
    program: {
        "H3K4me3": marks["H3K4me3"],
        "H3K27ac": demo.MarkProfile(H3K27AC_SHARE * marks["H3K4me3"].mean, marks["H3K4me3"].shape),
        "H3K36me3": marks["H3K36me3"],
        "H3K27me3": marks["H3K27me3"],
    }
    for program, marks in demo.PROGRAMS.items()
}
CELL_DEPTH = {"OWN1": 0.7, "OWN2": 1.0}
DEFAULT_BACKGROUND = {"H3K4me3": 6_000, "H3K27ac": 4_000, "H3K36me3": 5_000, "H3K27me3": 8_000}


@dataclass(frozen=True)
class OwnDemoConfig:
    seed: int = 20230327
    chrom_sizes: tuple[tuple[str, int], ...] = (  # the chromosomes that carry genes
        ("chr1", 7_000_000),
        ("chr2", 6_000_000),
        ("chr3", 5_000_000),
    )
    n_protein_coding: int = 1_180  # with coordinates and expression (plus MT-ND1)
    n_lncrna: int = 120  # with coordinates and expression
    n_version_changes: int = 6  # expression ids with another version than the GTF's
    label_noise: float = 0.10
    gene_depth_sd: float = 0.6
    cell_depth_sd: float = 0.35
    mark_depth_sd: float = 0.25
    background: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BACKGROUND))
    mito_reads: int = 40  # uniform chrM reads per file
    unplaced_reads: int = 3  # reads on the unplaced contig per file
    bed_duplicate_fraction: float = 0.01  # lines written twice in the BED (a BED has no flags)

    @property
    def genome(self) -> tuple[tuple[str, int], ...]:
        """Every sequence of the genome, in FASTA order."""
        return (*self.chrom_sizes, MITO, UNPLACED)


@dataclass
class OwnDemoData:
    genes: pd.DataFrame  # GTF genes in file order (with versions and exons)
    expression: pd.DataFrame  # the TPM table as written (versioned ids)
    planted: pd.DataFrame  # gene_id + one column per cell: the program its reads follow
    reads: dict[ReadFile, pd.DataFrame]  # BAM records, or BED intervals for the BED file


# --------------------------------------------------------------------------- genes


def _edge_genes(genes: pd.DataFrame) -> np.ndarray:
    """The first gene of the first chromosome and the last of the last: clipped windows."""
    placed = genes["role"] != "expression_only"
    first = placed & (genes["chrom"] == genes.loc[placed, "chrom"].min())
    last = placed & (genes["chrom"] == genes.loc[placed, "chrom"].max())
    edges = [genes.loc[first, "tss"].idxmin(), genes.loc[last, "tss"].idxmax()]
    return np.isin(np.arange(len(genes)), edges)


def _gene_types(rng: np.random.Generator, config: OwnDemoConfig, genes: pd.DataFrame) -> np.ndarray:
    """Biotype per id: lncRNA among the expressed genes (never an edge gene), the GTF-only
    and expression-only mixes, protein_coding for the rest."""
    types = np.full(len(genes), "protein_coding", dtype=object)
    expressed = np.flatnonzero((genes["role"] == "both").to_numpy() & ~_edge_genes(genes))
    types[rng.choice(expressed, size=config.n_lncrna, replace=False)] = "lncRNA"
    for role, mix in (("info_only", GTF_ONLY_TYPES), ("expression_only", EXPRESSION_ONLY_TYPES)):
        ids = rng.permutation(np.flatnonzero(genes["role"] == role))
        types[ids] = np.repeat(list(mix), list(mix.values()))
    return types


def _gene_names(types: np.ndarray) -> list[str]:
    """PCG0001, LINC0001, ...: numbered per type, in id order."""
    seen: dict[str, int] = {}
    names = []
    for gene_type in types:
        seen[gene_type] = seen.get(gene_type, 0) + 1
        names.append(f"{NAME_PREFIXES[gene_type]}{seen[gene_type]:04d}")
    return names


def _shorten(rng: np.random.Generator, genes: pd.DataFrame) -> None:
    """Give short biotypes short genes, keeping the TSS where it is."""
    for gene_type, (low, high) in SHORT_GENE_LENGTHS.items():
        rows = np.flatnonzero((genes["type"] == gene_type) & genes["tss"].notna())
        length = rng.integers(low, high + 1, len(rows))
        tss = genes["tss"].to_numpy()[rows]
        plus = genes["strand"].to_numpy()[rows] == 1
        genes.loc[genes.index[rows], "start"] = np.where(plus, tss, tss - length + 1)
        genes.loc[genes.index[rows], "end"] = np.where(plus, tss + length - 1, tss)


def simulate_gene_table(rng: np.random.Generator, config: OwnDemoConfig) -> pd.DataFrame:
    """All simulated ids (demo.simulate_genes' roles and places) with biotype and name."""
    layout = demo.DemoConfig(
        chrom_sizes=config.chrom_sizes,
        n_genes=config.n_protein_coding + config.n_lncrna,
        n_info_only=sum(GTF_ONLY_TYPES.values()),
        n_expression_only=sum(EXPRESSION_ONLY_TYPES.values()),
    )
    genes = demo.simulate_genes(rng, layout)
    genes["type"] = _gene_types(rng, config, genes)
    genes["symbol"] = _gene_names(genes["type"].to_numpy())
    _shorten(rng, genes)
    return genes


def _versions(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ensembl id versions: mostly small, a few in the tens."""
    return np.minimum(rng.geometric(0.35, n), 25)


# --------------------------------------------------------------------------- expression


def _tpm(values: np.ndarray) -> np.ndarray:
    """Scaled to sum to one million over the table's rows, to 2 decimals."""
    return np.round(values * 1e6 / values.sum(), 2)


def simulate_tpm(rng: np.random.Generator, genes: pd.DataFrame) -> pd.DataFrame:
    """TPM per cell (demo's expression model) for the expressed ids and MT-ND1."""
    table = demo.simulate_expression(rng, genes, cells=CELLS, reference=None)
    symbols = genes.set_index("gene_id")["symbol"]
    table.insert(1, "gene_name", table["gene_id"].map(symbols))
    mito_id, mito_name = MITO_GENES[0][:2]
    mito = {"gene_id": mito_id, "gene_name": mito_name}
    mito |= {cell: 1.5 * table[cell].max() for cell in CELLS}  # mitochondrial transcripts abound
    table = pd.concat([table, pd.DataFrame([mito])], ignore_index=True)
    for cell in CELLS:
        table[cell] = _tpm(table[cell].to_numpy())
    return table.sort_values("gene_id", ignore_index=True)


# --------------------------------------------------------------------------- GTF


def _exons(rng: np.random.Generator, start: int, end: int) -> list[tuple[int, int]]:
    """1-3 exons (1-based, inclusive, genomic order) spanning [start, end] exactly."""
    length = end - start + 1
    # Short genes get one exon, mid-sized ones up to two, longer ones up to three.
    n = 1 if length < 1_500 else int(rng.integers(1, 3 if length < 4_000 else 4))
    if n == 1:
        return [(start, end)]
    head = int(rng.integers(80, 400))
    tail = int(rng.integers(200, min(1_500, length // 3)))
    exons = [(start, start + head - 1), (end - tail + 1, end)]
    if n == 3:
        width = int(rng.integers(60, 250))
        first = int(rng.integers(start + head + 100, end - tail - 100 - width))
        exons.insert(1, (first, first + width - 1))
    return exons


def _attributes(pairs: list[tuple[str, str | int]]) -> str:
    """GTF column 9: quoted strings, bare integers (exon_number, level)."""
    return " ".join(f"{k} {v};" if isinstance(v, int) else f'{k} "{v}";' for k, v in pairs)


def gtf_genes(rng: np.random.Generator, genes: pd.DataFrame) -> pd.DataFrame:
    """GTF genes (simulated ones on the genic chromosomes plus the chrM pair), in file order,
    each with a version, one transcript and its exons."""
    table = genes.loc[genes["role"] != "expression_only"].copy()
    table["chrom"] = "chr" + table["chrom"].astype(str)
    mito = pd.DataFrame(
        [
            {"gene_id": gid, "symbol": name, "type": kind, "start": a, "end": b, "strand": 1}
            for gid, name, kind, a, b in MITO_GENES
        ]
    ).assign(chrom=MITO[0])
    table = pd.concat([table, mito], ignore_index=True)
    for column in ("start", "end", "strand"):
        table[column] = table[column].astype(np.int64)
    table = table.sort_values(["chrom", "start", "end"], ignore_index=True)
    table["version"] = _versions(rng, len(table))
    table["transcript"] = [f"ENST{x:011d}" for x in _distinct(rng, len(table), 200_000, 900_000)]
    table["transcript_version"] = _versions(rng, len(table))
    table["exons"] = [_exons(rng, a, b) for a, b in zip(table["start"], table["end"], strict=True)]
    exon_ids = _distinct(rng, int(table["exons"].map(len).sum()), 1_000_000, 4_000_000)
    bounds = np.cumsum([0, *table["exons"].map(len)])
    table["exon_ids"] = [exon_ids[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return table


def _distinct(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """`n` distinct integers in [low, high): ENST/ENSE numbers, unrelated to the genes'."""
    return low + rng.choice(high - low, size=n, replace=False)


def gtf_text(genes: pd.DataFrame) -> str:
    """The GTF: GENCODE's header comments, then gene, transcript and exons per gene."""
    lines = [
        "##description: simulated annotation for the attentivechrome own-data demo, in the "
        "layout of GENCODE release 44 (GRCh38); not real genes",
        "##provider: GENCODE",
        "##format: gtf",
        "##date: 2023-03-27",
    ]
    for gene in genes.itertuples(index=False):
        lines += _gene_lines(gene)
    return "".join(line + "\n" for line in lines)


def _gene_lines(gene) -> list[str]:
    """One gene's records, attributes in GENCODE's order."""
    source = "ENSEMBL" if gene.type in ENSEMBL_SOURCED else "HAVANA"
    level = ("level", 3 if source == "ENSEMBL" else 2)
    strand = "+" if gene.strand == 1 else "-"
    gene_id = ("gene_id", f"{gene.gene_id}.{gene.version}")
    names = [("gene_type", gene.type), ("gene_name", gene.symbol)]
    transcript = [
        gene_id,
        ("transcript_id", f"{gene.transcript}.{gene.transcript_version}"),
        *names,
        ("transcript_type", gene.type),
        ("transcript_name", f"{gene.symbol}-201"),
    ]
    tags = [("tag", "basic"), ("tag", "Ensembl_canonical")]

    def line(feature: str, start: int, end: int, attributes) -> str:
        fields = [gene.chrom, source, feature, start, end, ".", strand, ".", attributes]
        return "\t".join(map(str, fields))

    lines = [
        line("gene", gene.start, gene.end, _attributes([gene_id, *names, level])),
        line("transcript", gene.start, gene.end, _attributes([*transcript, level, *tags])),
    ]
    # Exons are numbered, and listed, in transcription order (descending on the - strand).
    exons = gene.exons if gene.strand == 1 else gene.exons[::-1]
    exon_ids = gene.exon_ids if gene.strand == 1 else gene.exon_ids[::-1]
    for number, ((start, end), exon_id) in enumerate(zip(exons, exon_ids, strict=True), 1):
        exon = [("exon_number", number), ("exon_id", f"ENSE{exon_id:011d}.1")]
        lines.append(line("exon", start, end, _attributes([*transcript, *exon, level, *tags])))
    return lines


def expression_ids(
    rng: np.random.Generator, config: OwnDemoConfig, tpm: pd.DataFrame, gtf: pd.DataFrame
) -> pd.Series:
    """Versioned ids for the TPM table: the GTF's version, except for a few protein-coding
    genes (an older release: one lower, or one higher where the GTF has .1), and fresh
    versions for the ids the GTF lacks."""
    versions = gtf.set_index("gene_id")["version"]
    version = tpm["gene_id"].map(versions)
    eligible = tpm["gene_id"].isin(
        gtf.loc[(gtf["type"] == "protein_coding") & gtf["chrom"].ne(MITO[0]), "gene_id"]
    )
    changed = rng.choice(np.flatnonzero(eligible), size=config.n_version_changes, replace=False)
    old = version.iloc[changed]
    version.iloc[changed] = np.where(old > 1, old - 1, old + 1)
    missing = version.isna().to_numpy()
    version[missing] = _versions(rng, int(missing.sum()))
    return tpm["gene_id"] + "." + version.astype(np.int64).astype(str)


# --------------------------------------------------------------------------- read positions


def _read_centres(
    rng: np.random.Generator,
    config: OwnDemoConfig,
    placed: pd.DataFrame,
    programs: np.ndarray,
    depth: np.ndarray,
    mark: str,
    background: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Planted reads around the genes, uniform background, and a few on chrM and chrUn."""
    parts = [
        demo.gene_reads(rng, placed, programs, depth, mark, PROGRAM_MARKS),
        demo.uniform_reads(rng, config.chrom_sizes, background),
        demo.uniform_reads(rng, (MITO,), config.mito_reads),
        demo.uniform_reads(rng, (UNPLACED,), config.unplaced_reads),
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _fragments(
    rng: np.random.Generator, chroms: np.ndarray, centres: np.ndarray, sizes: dict[str, int]
) -> pd.DataFrame:
    """Paired-end fragments around the centres: chrom, start, length, strand."""
    longest = FRAGMENT_RANGE[1]
    # demo.to_reads at the longest fragment drops those that could leave a chromosome.
    table = demo.to_reads(rng, chroms, centres, sizes, read_length=longest)
    length = np.round(rng.normal(FRAGMENT_MEAN, FRAGMENT_SD, len(table))).astype(np.int64)
    length = np.clip(length, *FRAGMENT_RANGE)
    table["start"] = table["start"] + (longest - length) // 2
    table["length"] = length
    return table.drop(columns="end")


# --------------------------------------------------------------------------- BAM records

RECORD_COLUMNS = ["read", "flag", "tid", "pos", "mapq", "cigar", "next_tid", "next_pos", "tlen"]


def reference_span(cigar: str) -> int:
    """Reference bases a CIGAR covers (M, D, N, = and X); 0 for none ('')."""
    return sum(int(n) for n, op in re.findall(r"(\d+)([MIDNSHP=X])", cigar) if op in "MDN=X")


def _disjoint_picks(
    rng: np.random.Generator, pool: np.ndarray, counts: dict[str, int]
) -> dict[str, np.ndarray]:
    """Non-overlapping random subsets of `pool`, one per kind, of the given sizes."""
    drawn = rng.choice(pool, size=sum(counts.values()), replace=False)
    bounds = np.cumsum([0, *counts.values()])
    return {
        kind: np.sort(drawn[a:b])
        for kind, a, b in zip(counts, bounds[:-1], bounds[1:], strict=True)
    }


def _roomy(chrom: pd.Series, start: pd.Series, sizes: dict[str, int]) -> np.ndarray:
    """Rows on the genic chromosomes at least 2 kb from both ends, where any CIGAR or move
    planted below stays on the chromosome."""
    size = chrom.map(sizes).to_numpy(dtype=float)  # NaN for chrM and chrUn
    start = start.to_numpy()
    return np.flatnonzero((start >= 2_000) & (start + 2_000 <= size))


def _elsewhere(
    rng: np.random.Generator, config: OwnDemoConfig, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """`n` random (tid, pos) on the genic chromosomes, for secondary/supplementary hits."""
    tid = rng.integers(0, len(config.chrom_sizes), n)
    size = np.array([s for _, s in config.chrom_sizes])[tid]
    return tid, rng.integers(0, size - 2 * READ_LENGTH)


def _set(records: pd.DataFrame, rows: np.ndarray, **values) -> None:
    for column, value in values.items():
        records.loc[rows, column] = value


def _add_flag(records: pd.DataFrame, rows: np.ndarray, bits: int) -> None:
    records.loc[rows, "flag"] = records.loc[rows, "flag"] | bits


def _apply_cigars(records: pd.DataFrame, picks: dict[str, np.ndarray], cigars) -> None:
    for cigar in cigars:
        rows = picks[cigar]
        _set(records, rows, cigar=cigar)
        if cigar.startswith("5S"):  # the clipped bases hang over the read's old start
            records.loc[rows, "pos"] += 5


def _apply_mapq(records: pd.DataFrame, picks: dict[str, np.ndarray], mapqs) -> None:
    for mapq in mapqs:
        _set(records, picks[f"mapq{mapq}"], mapq=mapq)


def _extra_hits(
    rng: np.random.Generator,
    config: OwnDemoConfig,
    records: pd.DataFrame,
    rows: np.ndarray,
    kind: int,
) -> pd.DataFrame:
    """Secondary or supplementary records of the reads at `rows`, placed elsewhere."""
    hits = records.loc[rows].copy()
    tid, pos = _elsewhere(rng, config, len(rows))
    strand = np.where(rng.random(len(rows)) < 0.5, REVERSE, 0)
    # Pair bits (0x1, 0x40/0x80, 0x20) and mate fields stay the primary's; a hit elsewhere
    # is not part of a proper pair.
    hits["flag"] = (hits["flag"] & ~(REVERSE | PROPER)) | strand | kind
    hits["tid"], hits["pos"], hits["tlen"] = tid, pos, 0
    if kind == SECONDARY:
        hits["mapq"], hits["cigar"] = 0, f"{READ_LENGTH}M"
    else:
        hits["mapq"], hits["cigar"] = GOOD_MAPQ, SUPPLEMENTARY_CIGAR
    return hits


def _single_end_base(reads: pd.DataFrame, tids: dict[str, int]) -> pd.DataFrame:
    n = len(reads)
    return pd.DataFrame(
        {
            "read": np.arange(n),
            "flag": np.where(reads["strand"] == "-", REVERSE, 0),
            "tid": reads["chrom"].map(tids).to_numpy(),
            "pos": reads["start"].to_numpy(),
            "mapq": GOOD_MAPQ,
            "cigar": f"{READ_LENGTH}M",
            "next_tid": -1,
            "next_pos": -1,
            "tlen": 0,
        }
    )


def single_end_records(
    rng: np.random.Generator,
    config: OwnDemoConfig,
    reads: pd.DataFrame,
    tids: dict[str, int],
) -> pd.DataFrame:
    """BAM records of single-end reads with the planted special cases, coordinate-sorted."""
    records = _single_end_base(reads, tids)
    specials = SINGLE_END_SPECIALS
    changed = {
        **{f"mapq{q}": n for q, n in LOW_MAPQ.items()},
        **ODD_CIGARS,
        "qc_fail": specials["qc_fail"],
        "unmapped_placed": specials["unmapped_placed"],
        "supplementary": specials["supplementary"],
        "duplicate": specials["duplicate"],  # sources: their copies are the duplicates
        "secondary": specials["secondary"],  # sources of the secondary hits
    }
    pool = _roomy(reads["chrom"], reads["start"], dict(config.chrom_sizes))
    picks = _disjoint_picks(rng, pool, changed)
    _apply_mapq(records, picks, LOW_MAPQ)
    _apply_cigars(records, picks, ODD_CIGARS)
    _add_flag(records, picks["qc_fail"], QC_FAIL)
    _set(records, picks["unmapped_placed"], flag=UNMAPPED, cigar="", mapq=0)
    duplicates = records.loc[picks["duplicate"]].copy()
    duplicates["flag"] |= DUPLICATE
    supplementary = _extra_hits(rng, config, records, picks["supplementary"], SUPPLEMENTARY)
    _set(records, picks["supplementary"], cigar=SUPPLEMENTARY_PRIMARY_CIGAR)
    secondary = _extra_hits(rng, config, records, picks["secondary"], SECONDARY)
    # Duplicates and unplaced reads are reads of their own, with numbers of their own.
    duplicates["read"] = len(records) + np.arange(len(duplicates))
    unplaced = _unplaced_records(len(records) + len(duplicates), specials["unmapped_unplaced"])
    table = pd.concat([records, duplicates, supplementary, secondary, unplaced], ignore_index=True)
    # Read numbers (so names) in random order, as a FASTQ's order says nothing of position.
    table["read"] = rng.permutation(int(table["read"].max()) + 1)[table["read"].to_numpy()]
    return _coordinate_sorted(table, len(tids))


def _unplaced_records(first_read: int, n: int) -> pd.DataFrame:
    """Unmapped reads with no reference or position, as aligners write them last."""
    values = dict(zip(RECORD_COLUMNS[1:], [UNMAPPED, -1, -1, 0, "", -1, -1, 0], strict=True))
    return pd.DataFrame({"read": first_read + np.arange(n), **values})


def _coordinate_sorted(records: pd.DataFrame, n_refs: int) -> pd.DataFrame:
    """samtools' order: reference, position, forward before reverse; unplaced last."""
    tid = np.where(records["tid"] < 0, n_refs, records["tid"])
    reverse = (records["flag"] & REVERSE) > 0
    order = np.lexsort((np.arange(len(records)), reverse, records["pos"], tid))
    return records.iloc[order].reset_index(drop=True)


def _pair_base(fragments: pd.DataFrame, tids: dict[str, int]) -> pd.DataFrame:
    """Proper FR pairs, mate 1 then mate 2 of each fragment; mate fields left to _link."""
    n = len(fragments)
    left = fragments["start"].to_numpy()
    right = left + fragments["length"].to_numpy() - READ_LENGTH
    minus = (fragments["strand"] == "-").to_numpy()
    pos = np.empty(2 * n, dtype=np.int64)
    pos[0::2], pos[1::2] = np.where(minus, right, left), np.where(minus, left, right)
    flag = np.empty(2 * n, dtype=np.int64)
    flag[0::2] = PAIRED | PROPER | FIRST | np.where(minus, REVERSE, 0)
    flag[1::2] = PAIRED | PROPER | SECOND | np.where(minus, 0, REVERSE)
    return pd.DataFrame(
        {
            "read": np.repeat(np.arange(n), 2),
            "flag": flag,
            "tid": np.repeat(fragments["chrom"].map(tids).to_numpy(), 2),
            "pos": pos,
            "mapq": GOOD_MAPQ,
            "cigar": f"{READ_LENGTH}M",
            "next_tid": -1,
            "next_pos": -1,
            "tlen": 0,
        }
    )


def _link(pairs: pd.DataFrame) -> None:
    """Mate fields from the mates themselves (rows 2i and 2i+1): RNEXT, PNEXT, TLEN and the
    0x8 / 0x20 bits, so that every pair is consistent whatever was changed before."""
    mate = np.arange(len(pairs)) ^ 1
    flag = pairs["flag"].to_numpy()
    tid, pos = pairs["tid"].to_numpy(), pairs["pos"].to_numpy()
    end = pos + pairs["cigar"].map(reference_span).to_numpy()
    mapped = (flag & UNMAPPED) == 0
    mate_bits = np.where(mapped[mate], 0, MATE_UNMAPPED) | np.where(
        flag[mate] & REVERSE, MATE_REVERSE, 0
    )
    pairs["flag"] = (flag & ~(MATE_UNMAPPED | MATE_REVERSE)) | mate_bits
    pairs["next_tid"], pairs["next_pos"] = tid[mate], pos[mate]
    both = mapped & mapped[mate] & (tid == tid[mate])
    span = np.maximum(end, end[mate]) - np.minimum(pos, pos[mate])
    leftmost = (pos < pos[mate]) | ((pos == pos[mate]) & ((flag & FIRST) > 0))
    pairs["tlen"] = np.where(both, np.where(leftmost, span, -span), 0)


def _break_pairs(
    rng: np.random.Generator,
    config: OwnDemoConfig,
    pairs: pd.DataFrame,
    picks: dict[str, np.ndarray],
) -> None:
    """Improper pairs: mate 2 far away, on another chromosome, or unmapped."""
    sizes = np.array([s for _, s in config.chrom_sizes])
    far = 2 * picks["far_pairs"] + 1
    distance = rng.integers(50_000, 200_001, len(far))
    moved = pairs.loc[far, "pos"].to_numpy() + distance
    back = pairs.loc[far, "pos"].to_numpy() - distance
    room = sizes[pairs.loc[far, "tid"].to_numpy()] - 2 * READ_LENGTH
    _set(pairs, far, pos=np.where(moved <= room, moved, back))
    other = 2 * picks["interchrom_pairs"] + 1
    tid = (pairs.loc[other, "tid"].to_numpy() + 1) % len(sizes)
    _set(pairs, other, tid=tid, pos=rng.integers(0, sizes[tid] - 2 * READ_LENGTH))
    lost = 2 * picks["mate_unmapped_pairs"] + 1
    _set(pairs, lost, flag=PAIRED | SECOND | UNMAPPED, cigar="", mapq=0)
    _set(pairs, lost, tid=pairs.loc[lost - 1, "tid"].to_numpy())
    _set(pairs, lost, pos=pairs.loc[lost - 1, "pos"].to_numpy())
    for kind in ("far_pairs", "interchrom_pairs", "mate_unmapped_pairs"):
        rows = _mate_rows(picks[kind])
        pairs.loc[rows, "flag"] = pairs.loc[rows, "flag"] & ~PROPER


def _mate_rows(fragments: np.ndarray) -> np.ndarray:
    """Rows of both mates of the given (sorted) fragments: 2i, 2i+1, ..."""
    return np.stack([2 * fragments, 2 * fragments + 1], axis=1).ravel()


def paired_end_records(
    rng: np.random.Generator,
    config: OwnDemoConfig,
    fragments: pd.DataFrame,
    tids: dict[str, int],
) -> pd.DataFrame:
    """BAM records of paired-end fragments with the planted cases, in aligner order: pairs
    in random order, mate 1 then mate 2 then any secondary/supplementary hits."""
    pairs = _pair_base(fragments, tids)
    specials = PAIRED_END_SPECIALS
    pair_kinds = ["far_pairs", "interchrom_pairs", "mate_unmapped_pairs", "qc_fail_pairs"]
    pair_kinds.append("duplicate_pairs")  # sources: their copies are the duplicates
    pool = _roomy(fragments["chrom"], fragments["start"], dict(config.chrom_sizes))
    pair_picks = _disjoint_picks(rng, pool, {kind: specials[kind] for kind in pair_kinds})
    _break_pairs(rng, config, pairs, pair_picks)
    _add_flag(pairs, _mate_rows(pair_picks["qc_fail_pairs"]), QC_FAIL)
    # Mate-level cases go to mates of the pairs left plain.
    plain = np.setdiff1d(pool, np.concatenate(list(pair_picks.values())))
    mates = _mate_rows(plain)
    mate_kinds = {
        **{f"mapq{q}": n for q, n in PAIRED_LOW_MAPQ.items()},
        **PAIRED_ODD_CIGARS,
        "supplementary": specials["supplementary"],
        "secondary": specials["secondary"],
    }
    picks = _disjoint_picks(rng, mates, mate_kinds)
    _apply_mapq(pairs, picks, PAIRED_LOW_MAPQ)
    _apply_cigars(pairs, picks, PAIRED_ODD_CIGARS)
    _set(pairs, picks["supplementary"], cigar=SUPPLEMENTARY_PRIMARY_CIGAR)
    _link(pairs)
    supplementary = _extra_hits(rng, config, pairs, picks["supplementary"], SUPPLEMENTARY)
    secondary = _extra_hits(rng, config, pairs, picks["secondary"], SECONDARY)
    duplicates = pairs.loc[_mate_rows(pair_picks["duplicate_pairs"])].copy()
    duplicates["flag"] |= DUPLICATE
    duplicates["read"] = len(fragments) + np.repeat(np.arange(len(duplicates) // 2), 2)
    table = pd.concat([pairs, duplicates, supplementary, secondary], ignore_index=True)
    return _in_read_order(rng, table)


def _in_read_order(rng: np.random.Generator, records: pd.DataFrame) -> pd.DataFrame:
    """Fragments in random order (the order of the FASTQ), their records together, read
    numbers renumbered to that order so that names rise through the file."""
    n_reads = int(records["read"].max()) + 1
    rank = rng.permutation(n_reads)
    extra = ((records["flag"] & (SECONDARY | SUPPLEMENTARY)) > 0).to_numpy()
    order = np.lexsort((np.arange(len(records)), extra, rank[records["read"].to_numpy()]))
    table = records.iloc[order].reset_index(drop=True)
    table["read"] = rank[table["read"].to_numpy()]
    return table


# --------------------------------------------------------------------------- simulation


def _placed_genes(genes: pd.DataFrame) -> pd.DataFrame:
    placed = genes[genes["role"] != "expression_only"].reset_index(drop=True)
    for column in ("start", "end", "strand", "tss"):
        placed[column] = placed[column].astype(np.int64)
    return placed


def _genome_tids(config: OwnDemoConfig) -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(config.genome)}


def simulate_reads(
    rng: np.random.Generator, config: OwnDemoConfig, placed: pd.DataFrame, states: pd.DataFrame
) -> dict[ReadFile, pd.DataFrame]:
    """Per sheet row: BAM records, or BED intervals (chrom, start, end, strand)."""
    sizes = dict(config.genome)
    tids = _genome_tids(config)
    gene_depth = rng.lognormal(0.0, config.gene_depth_sd, len(placed))
    cell_depth = {
        cell: CELL_DEPTH[cell] * gene_depth * rng.lognormal(0.0, config.cell_depth_sd, len(placed))
        for cell in CELLS
    }
    reads = {}
    for read_file in READ_FILES:
        depth = cell_depth[read_file.cell] * rng.lognormal(0.0, config.mark_depth_sd, len(placed))
        background = round(config.background[read_file.mark] * CELL_DEPTH[read_file.cell])
        programs = states[read_file.cell].to_numpy()
        chroms, centres = _read_centres(
            rng, config, placed, programs, depth, read_file.mark, background
        )
        if read_file.kind == "paired_bam":
            fragments = _fragments(rng, chroms, centres, sizes)
            reads[read_file] = paired_end_records(rng, config, fragments, tids)
            continue
        table = demo.to_reads(rng, chroms, centres, sizes, read_length=READ_LENGTH)
        if read_file.kind == "bam":
            reads[read_file] = single_end_records(rng, config, table, tids)
        else:
            twice = rng.random(len(table)) < config.bed_duplicate_fraction
            reads[read_file] = demo.sorted_reads(pd.concat([table, table[twice]]))
    return reads


def simulate(config: OwnDemoConfig | None = None) -> OwnDemoData:
    """Build the whole dataset in memory (deterministic for a given config)."""
    config = config or OwnDemoConfig()
    rng = np.random.default_rng(config.seed)
    genes = simulate_gene_table(rng, config)
    gtf = gtf_genes(rng, genes)
    tpm = simulate_tpm(rng, genes)
    # The labels (and so the programs) come from the values as written, 2 decimals.
    states = demo.planted_states(rng, genes, tpm, config.label_noise, cells=CELLS)
    tpm["gene_id"] = expression_ids(rng, config, tpm, gtf)
    reads = simulate_reads(rng, config, _placed_genes(genes), states)
    return OwnDemoData(genes=gtf, expression=tpm, planted=states, reads=reads)


# --------------------------------------------------------------------------- writing


def fai_text(genome: tuple[tuple[str, int], ...], line_bases: int = 60) -> str:
    """samtools faidx's index of a FASTA with '>name' headers and 60-base lines."""
    rows, offset = [], 0
    for name, length in genome:
        offset += len(name) + 2  # '>' name '\n'
        rows.append(f"{name}\t{length}\t{offset}\t{line_bases}\t{line_bases + 1}")
        offset += length + -(-length // line_bases)  # the bases and one newline per line
    return "".join(row + "\n" for row in rows)


def read_path(out_dir: str | Path, read_file: ReadFile) -> Path:
    return Path(out_dir) / READS_DIR / read_file.name


def samples_text() -> str:
    rows = ["\t".join(SAMPLE_COLUMNS)]
    for f in READ_FILES:
        path = (SHEET_PREFIX / READS_DIR / f.name).as_posix()
        rows.append("\t".join([f.cell, f.mark, path, f.declared_format]))
    return "".join(row + "\n" for row in rows)


def ensembl_name(name: str) -> str:
    return ENSEMBL_RENAMES.get(name, name.removeprefix("chr"))


def bam_header(config: OwnDemoConfig, read_file: ReadFile) -> str:
    """SAM header text: @HD, @SQ for the whole genome, one @RG and a @PG for this generator."""
    paired = read_file.kind == "paired_bam"
    order = "SO:unsorted\tGO:query" if paired else "SO:coordinate"
    run = run_id(read_file)
    lines = [f"@HD\tVN:1.6\t{order}"]
    lines += [f"@SQ\tSN:{ensembl_name(n) if paired else n}\tLN:{size}" for n, size in config.genome]
    lines.append(f"@RG\tID:{run}\tSM:{read_file.cell}\tLB:{run}-lib1\tPL:ILLUMINA")
    command = f"make_own_demo.py --seed {config.seed}"
    lines.append(f"@PG\tID:make_own_demo\tPN:make_own_demo.py\tVN:1\tCL:{command}")
    return "".join(line + "\n" for line in lines)


def run_id(read_file: ReadFile) -> str:
    """The read group id, also the read names' prefix: the file name without `.bam`."""
    return read_file.name.removesuffix(".bam")


def write_bam(path: Path, header_text: str, run: str, records: pd.DataFrame) -> None:
    """Records as given, named `{run}:{read + 1}`, without SEQ or QUAL (see the README)."""
    header = pysam.AlignmentHeader.from_text(header_text)
    with atomic_path(path) as tmp, pysam.AlignmentFile(str(tmp), "wb", header=header) as bam:
        for row in records.itertuples(index=False):
            segment = pysam.AlignedSegment(header)
            segment.query_name = f"{run}:{row.read + 1}"
            segment.flag = int(row.flag)
            segment.reference_id = int(row.tid)
            segment.reference_start = int(row.pos)
            segment.mapping_quality = int(row.mapq)
            segment.cigarstring = row.cigar or None
            segment.next_reference_id = int(row.next_tid)
            segment.next_reference_start = int(row.next_pos)
            segment.template_length = int(row.tlen)
            segment.set_tag("RG", run, "Z")
            bam.write(segment)


def write_own_demo(out_dir: str | Path, config: OwnDemoConfig | None = None) -> list[Path]:
    """Write every generated file under `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    config = config or OwnDemoConfig()
    data = simulate(config)
    expression = data.expression.to_csv(index=False, float_format="%.2f", lineterminator="\n")
    texts = {
        FAI_NAME: fai_text(config.genome).encode("ascii"),
        GTF_NAME: demo.gzip_bytes(gtf_text(data.genes)),
        EXPRESSION_NAME: expression.encode("ascii"),
        SAMPLES_NAME: samples_text().encode("ascii"),
    }
    written = []
    for name, content in texts.items():
        demo.write_bytes(out_dir / name, content)
        written.append(out_dir / name)
    for read_file, table in data.reads.items():
        path = read_path(out_dir, read_file)
        written.append(path)
        if read_file.kind == "bed":
            demo.write_bytes(path, demo.gzip_bytes(demo.tagalign_text(table)))
            continue
        write_bam(path, bam_header(config, read_file), run_id(read_file), table)
        if read_file.kind == "bam":
            pysam.index(str(path))
            written.append(Path(f"{path}.bai"))
    return written
