"""A small simulated REMC-format dataset, so the whole pipeline runs in minutes on a laptop.

The generator writes the same file kinds the real pipeline reads - chromosome sizes, a
Roadmap `gene_info` table, a `57epigenomes.RPKM.pc`-style expression matrix and one
tagAlign read file per (cell type, mark) - for a made-up three-chromosome genome. Reads
carry a planted, noisy link between each cell type's expression and its histone marks
(see resources/demo/README.md), so a model can learn the task without solving it exactly.

Everything derives from one seed: regenerating gives byte-identical files.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.io import atomic_path

CELLS = ("DEMO1", "DEMO2", "DEMO3")
REFERENCE_CELL = "E000"  # the universal reference column that leads the real RPKM matrix
MARKS = ("H3K4me3", "H3K4me1", "H3K36me3", "H3K9me3", "H3K27me3")
READ_LENGTH = 36
UNPLACED_CHROM = "chrUn_demo"  # a contig missing from the sizes file: its reads must be dropped
OVERHANG_FILE = ("DEMO1", "H3K9me3")  # the one file holding reads that run past chr3's end

SIZES_NAME = "genome.chrom.sizes"
GENE_INFO_NAME = "gene_info.tsv"
RPKM_NAME = "demo.RPKM.pc.gz"
TAGALIGN_DIR = "tagalign"


@dataclass(frozen=True)
class MarkProfile:
    """Reads one mark gets around a gene of one program, per unit of the gene's depth.

    `mean` is the mean read count; `shape` names how read positions spread relative to
    the TSS, in transcription direction (see `_offsets`).
    """

    mean: float
    shape: str


def _program(k4me3, k4me1, k36me3, k27me3) -> dict[str, MarkProfile]:
    marks = {"H3K4me3": k4me3, "H3K4me1": k4me1, "H3K36me3": k36me3, "H3K27me3": k27me3}
    program = {mark: MarkProfile(*spec) for mark, spec in marks.items()}
    program["H3K9me3"] = MarkProfile(0.0, "none")  # its domains are unrelated to genes
    return program


#: What each planted program puts around a gene. Expressed genes are `active`; silent genes
#: take one of the other four, so that the same amount of a mark can mean either label and
#: only where it sits, and with which other mark, tells them apart:
#: - bivalent: H3K4me3 at the promoter, as in active genes, but with broad H3K27me3;
#: - antisense: promoter H3K4me3 and as much H3K36me3 as an active gene, but over the
#:   upstream side (a transcript on the other strand), so H3K36me3 alone cannot tell;
#: - displaced: H3K4me3 3-4.5 kb away from the TSS (another element), H3K36me3 weak;
#: - repressed: broad H3K27me3, little else.
PROGRAMS = {
    "active": _program((12.0, "promoter"), (5.0, "flanks"), (18.0, "body"), (1.0, "broad")),
    "bivalent": _program((12.0, "promoter"), (5.0, "flanks"), (1.0, "body"), (10.0, "broad")),
    "antisense": _program((12.0, "promoter"), (5.0, "flanks"), (18.0, "upstream"), (1.0, "broad")),
    "displaced": _program((12.0, "displaced"), (5.0, "flanks"), (2.0, "body"), (1.0, "broad")),
    "repressed": _program((1.5, "promoter"), (2.0, "flanks"), (1.0, "body"), (10.0, "broad")),
}
#: Shares of the silent programs among silent genes.
SILENT_MIX = {"bivalent": 0.25, "antisense": 0.30, "displaced": 0.20, "repressed": 0.25}
#: Sequencing depth of each cell type's files, relative to DEMO1 (planted and background).
CELL_DEPTH = {"DEMO1": 1.0, "DEMO2": 1.5, "DEMO3": 0.7}
# Uniform reads over the whole genome, per file (input-like noise that every mark has).
DEFAULT_BACKGROUND = {
    "H3K4me3": 8000,
    "H3K4me1": 11000,
    "H3K36me3": 7000,
    "H3K9me3": 13000,
    "H3K27me3": 9000,
}


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 20171204
    chrom_sizes: tuple[tuple[str, int], ...] = (
        ("chr1", 6_000_000),
        ("chr2", 5_000_000),
        ("chr3", 4_000_000),
    )
    n_genes: int = 1200  # genes with both coordinates and expression
    n_info_only: int = 5  # genes in gene_info but not in the expression matrix
    n_expression_only: int = 4  # genes in the expression matrix but not in gene_info
    label_noise: float = 0.10  # chance that a gene's marks follow the opposite label
    duplicate_fraction: float = 0.01  # reads written twice, like PCR duplicates
    # A gene's depth: log-normal, one part shared by the cell types and one per cell type,
    # independent of expression, so that total counts predict the label only weakly.
    gene_depth_sd: float = 0.6
    cell_depth_sd: float = 0.35
    background: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BACKGROUND))
    n_k9_domains: int = 30  # broad H3K9me3 domains shared by all cells, unrelated to genes
    k9_domain_density: float = 0.002  # extra reads per bp inside a domain


@dataclass
class DemoData:
    genes: pd.DataFrame  # gene_info rows (duplicate row included), in file order
    expression: pd.DataFrame  # gene_id + REFERENCE_CELL + CELLS, in file order
    reads: dict[tuple[str, str], pd.DataFrame]  # (cell, mark) -> chrom, start, end, strand
    planted: pd.DataFrame  # gene_id + one column per cell: the program its reads follow


# --------------------------------------------------------------------------- genes


def gene_ids(rng: np.random.Generator, n: int, high: int = 260_000) -> np.ndarray:
    """Sorted, distinct ENSG ids (11 digits, below `high`), starting like the real list."""
    numbers = np.sort(rng.choice(np.arange(4, high), size=n - 1, replace=False))
    numbers = np.concatenate([[3], numbers])  # ENSG00000000003 opens the real list too
    return np.array([f"ENSG{x:011d}" for x in numbers])


def _tss_positions(rng: np.random.Generator, n: int, first: int, last: int) -> np.ndarray:
    """`n` increasing TSSs from `first` to `last`; most gaps exceed 10 kb, some do not.

    About one gap in eight is short (3-9.5 kb) so that some 10 kb windows overlap.
    """
    close = rng.random(n - 1) < 0.12
    gaps = np.where(close, rng.uniform(3_000, 9_500, n - 1), 10_500 + rng.exponential(2_700, n - 1))
    # Stretch or shrink every gap alike so the last TSS lands exactly on `last`.
    gaps *= (last - first) / gaps.sum()
    return np.round(first + np.concatenate([[0.0], np.cumsum(gaps)])).astype(np.int64)


def _place_genes(rng: np.random.Generator, config: DemoConfig, n_placed: int) -> pd.DataFrame:
    """Chromosome, TSS, strand and extent for `n_placed` genes, in genomic order.

    The first gene of chr1 sits 2.5 kb from the chromosome start and the last gene of chr3
    1.2 kb from its end, so their windows are clipped.
    """
    sizes = dict(config.chrom_sizes)
    total = sum(sizes.values())
    counts = [round(n_placed * size / total) for size in sizes.values()]
    counts[-1] = n_placed - sum(counts[:-1])
    rows = []
    for index, ((chrom, size), count) in enumerate(zip(config.chrom_sizes, counts, strict=True)):
        first = 2_501 if index == 0 else 7_000
        last = size - 1_200 if index == len(sizes) - 1 else size - 9_000
        tss = _tss_positions(rng, count, first, last)
        strand = np.where(rng.random(count) < 0.5, 1, -1)
        if index == 0:
            strand[0] = 1  # a + gene whose upstream flank runs off the chromosome start
        if index == len(sizes) - 1:
            strand[-1] = -1  # a - gene whose upstream flank runs off the chromosome end
        length = np.round(np.exp(rng.uniform(np.log(1_000), np.log(80_000), count)))
        length = length.astype(np.int64)
        start = np.where(strand == 1, tss, np.maximum(1, tss - length + 1))
        end = np.where(strand == 1, np.minimum(size, tss + length - 1), tss)
        rows.append(
            pd.DataFrame(
                {"chrom": chrom.removeprefix("chr"), "start": start, "end": end, "strand": strand}
            )
        )
    return pd.concat(rows, ignore_index=True)


def _assign_roles(rng: np.random.Generator, config: DemoConfig, n_total: int) -> np.ndarray:
    """Role per id: 'both', 'info_only' or 'expression_only' (the ids stay sorted)."""
    roles = np.full(n_total, "both", dtype=object)
    # Keep the first id ('both') so the split of the real list starts alike.
    picked = rng.choice(
        np.arange(1, n_total), size=config.n_info_only + config.n_expression_only, replace=False
    )
    roles[picked[: config.n_info_only]] = "info_only"
    roles[picked[config.n_info_only :]] = "expression_only"
    return roles


def simulate_genes(rng: np.random.Generator, config: DemoConfig) -> pd.DataFrame:
    """All ids with their role and, for those in gene_info, coordinates (TSS = `tss`)."""
    n_total = config.n_genes + config.n_info_only + config.n_expression_only
    ids = gene_ids(rng, n_total)
    roles = _assign_roles(rng, config, n_total)
    placed_ids = ids[roles != "expression_only"]
    placed_roles = roles[roles != "expression_only"]
    # Random genomic order, as real ids say nothing about position; the two clipped edge
    # genes must have expression, so they are taken from the 'both' genes.
    order = rng.permutation(len(placed_ids))
    both = np.flatnonzero(placed_roles[order] == "both")
    for slot, pick in ((0, both[0]), (len(order) - 1, both[-1])):
        order[[slot, pick]] = order[[pick, slot]]
    layout = _place_genes(rng, config, len(placed_ids))
    layout.insert(0, "gene_id", placed_ids[order])
    layout["tss"] = np.where(layout["strand"] == 1, layout["start"], layout["end"])
    genes = pd.DataFrame({"gene_id": ids, "role": roles})
    genes = genes.merge(layout, on="gene_id", how="left")
    genes["symbol"] = [f"DEMO{i + 1:04d}" for i in range(n_total)]
    return genes


def gene_info_table(rng: np.random.Generator, genes: pd.DataFrame) -> pd.DataFrame:
    """The gene_info rows: placed genes sorted by id, one id written twice.

    As in the real file, the repeated id keeps its coordinates under a second symbol.
    """
    info = genes[genes["role"] != "expression_only"].copy()
    info["gene_type"] = "protein_coding"
    info["description"] = [
        f"simulated demo gene {symbol} [Source:attentivechrome demo;Acc:{i}]"
        for i, symbol in enumerate(info["symbol"], start=1)
    ]
    # Never the clipped edge genes, so each edge case stays isolated.
    candidates = info[(info["role"] == "both") & info["start"].gt(20_000)]
    twin = candidates.iloc[[int(rng.integers(len(candidates)))]].copy()
    twin["symbol"] = twin["symbol"] + "-ALT"
    twin["description"] = "simulated demo gene, second symbol of the same id [Source:demo]"
    info = pd.concat([info, twin]).sort_values("gene_id", kind="stable")
    columns = ["gene_id", "chrom", "start", "end", "strand", "gene_type", "symbol", "description"]
    info = info[columns].reset_index(drop=True)
    for column in ("start", "end", "strand"):
        info[column] = info[column].astype(np.int64)
    return info


# --------------------------------------------------------------------------- expression


def simulate_expression(
    rng: np.random.Generator,
    genes: pd.DataFrame,
    cells: Sequence[str] = CELLS,
    reference: str | None = REFERENCE_CELL,
) -> pd.DataFrame:
    """RPKM per gene: a shared gene level plus a cell-specific part, log-normal, ~12% zeros.

    `reference` names a universal-reference column (the mean over the cells, with noise)
    written first; None leaves it out.
    """
    ids = genes.loc[genes["role"] != "info_only", "gene_id"].to_numpy()
    n = len(ids)
    shared = rng.normal(size=n)
    table = {"gene_id": ids}
    per_cell = []
    for _ in cells:
        # Cell types correlate (r ~ 0.55) but differ, so their labels differ too.
        score = 0.75 * shared + 0.66 * rng.normal(size=n)
        rpkm = np.exp(0.8 + 1.9 * score)
        rpkm[score < np.quantile(score, 0.12)] = 0.0  # unexpressed genes read 0 in real data
        per_cell.append(rpkm)
    if reference is not None:
        table[reference] = np.mean(per_cell, axis=0) * np.exp(rng.normal(0.0, 0.2, size=n))
    for cell, rpkm in zip(cells, per_cell, strict=True):
        table[cell] = rpkm
    return pd.DataFrame(table)


def expression_labels(expression: pd.DataFrame, cells: Sequence[str] = CELLS) -> pd.DataFrame:
    """1 where a gene's RPKM is above its cell type's median over all matrix rows."""
    labels = pd.DataFrame({"gene_id": expression["gene_id"]})
    for cell in cells:
        values = expression[cell].to_numpy()
        labels[cell] = (values > np.median(values)).astype(np.int8)
    return labels


def planted_states(
    rng: np.random.Generator,
    genes: pd.DataFrame,
    expression: pd.DataFrame,
    noise: float,
    cells: Sequence[str] = CELLS,
) -> pd.DataFrame:
    """Per placed gene and cell, the program its reads follow (see PROGRAMS).

    `active` for expressed genes (label 1), a silent program drawn from SILENT_MIX
    otherwise; the label is flipped first for a share `noise` of genes. Genes without
    expression get a fair coin, so their reads look like any other gene's.
    """
    placed = genes.loc[genes["role"] != "expression_only", ["gene_id"]].reset_index(drop=True)
    labels = placed.merge(expression_labels(expression, cells), on="gene_id", how="left")
    silent = np.array(list(SILENT_MIX), dtype=object)
    shares = np.array(list(SILENT_MIX.values()))
    for cell in cells:
        label = labels[cell].to_numpy(dtype=float, copy=True)
        unknown = np.isnan(label)
        label[unknown] = rng.random(unknown.sum()) < 0.5
        flip = rng.random(len(label)) < noise
        label = np.where(flip, 1 - label, label)
        drawn = silent[rng.choice(len(silent), size=len(label), p=shares / shares.sum())]
        placed[cell] = np.where(label == 1, "active", drawn)
    return placed


# --------------------------------------------------------------------------- reads


def _offsets(rng: np.random.Generator, shape: str, lengths: np.ndarray) -> np.ndarray:
    """Fragment centres relative to the TSS, positive = downstream in transcription direction.

    `lengths` is the gene length for each read to place (the body shape needs it).
    """
    n = len(lengths)
    if shape == "promoter":  # a sharp peak just downstream of the TSS (it shows the strand)
        return rng.normal(300.0, 450.0, n)
    if shape == "displaced":  # a promoter-like peak 3-4.5 kb away, on either side
        return rng.choice([-1.0, 1.0], n) * rng.uniform(3_000.0, 4_500.0, n)
    if shape == "upstream":  # the body of a transcript on the other strand
        return -_offsets(rng, "body", lengths)
    if shape == "broad":  # a wide repressive domain centred on the TSS
        return rng.normal(0.0, 1_800.0, n)
    if shape == "flanks":  # enhancer-like bumps 0.8-3.5 kb away on either side
        return rng.choice([-1.0, 1.0], n) * rng.uniform(800.0, 3_500.0, n)
    if shape == "body":  # the gene body, denser towards the 3' end, within the window
        body_end = np.clip(lengths, 1_500, 6_000).astype(float)
        return 600.0 + (body_end - 600.0) * np.sqrt(rng.random(n))
    raise ValueError(f"unknown read shape {shape!r}")


def gene_reads(
    rng: np.random.Generator,
    placed: pd.DataFrame,
    programs: np.ndarray,
    depth: np.ndarray,
    mark: str,
    program_marks: dict[str, dict[str, MarkProfile]] = PROGRAMS,
) -> tuple[np.ndarray, np.ndarray]:
    """Chromosome names and fragment centres of the reads planted around the genes.

    `programs` names each gene's program, looked up in `program_marks` for this `mark`.
    """
    profiles = [program_marks[program][mark] for program in programs]
    counts = rng.poisson(np.array([p.mean for p in profiles]) * depth)
    gene = np.repeat(np.arange(len(placed)), counts)
    lengths = (placed["end"] - placed["start"] + 1).to_numpy()[gene]
    shapes = np.array([p.shape for p in profiles], dtype=object)[gene]
    offsets = np.zeros(len(gene))
    for shape in np.unique(shapes):  # in sorted order, so the draws are reproducible
        here = shapes == shape
        offsets[here] = _offsets(rng, shape, lengths[here])
    centres = placed["tss"].to_numpy()[gene] + placed["strand"].to_numpy()[gene] * offsets
    chroms = ("chr" + placed["chrom"]).to_numpy()[gene]
    return chroms, np.round(centres).astype(np.int64)


def uniform_reads(
    rng: np.random.Generator, chrom_sizes: tuple[tuple[str, int], ...], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """`n` read centres spread uniformly over the genome."""
    names = np.array([name for name, _ in chrom_sizes], dtype=object)
    sizes = np.array([size for _, size in chrom_sizes], dtype=np.int64)
    chrom = rng.choice(len(sizes), size=n, p=sizes / sizes.sum())
    return names[chrom], rng.integers(0, sizes[chrom])


def _k9_domains(rng: np.random.Generator, config: DemoConfig) -> list[tuple[str, int, int]]:
    """Broad heterochromatin domains (20-150 kb), the same in every cell type."""
    domains = []
    for _ in range(config.n_k9_domains):
        name, size = config.chrom_sizes[int(rng.integers(len(config.chrom_sizes)))]
        width = int(rng.integers(20_000, 150_000))
        start = int(rng.integers(0, size - width))
        domains.append((name, start, start + width))
    return domains


def _domain_reads(
    rng: np.random.Generator, domains: list[tuple[str, int, int]], density: float
) -> tuple[np.ndarray, np.ndarray]:
    chroms, centres = [], []
    for name, start, end in domains:
        n = rng.poisson(density * (end - start))
        chroms.append(np.full(n, name, dtype=object))
        centres.append(rng.integers(start, end, n))
    return np.concatenate(chroms), np.concatenate(centres)


def to_reads(
    rng: np.random.Generator,
    chroms: np.ndarray,
    centres: np.ndarray,
    chrom_sizes: dict[str, int],
    read_length: int = READ_LENGTH,
) -> pd.DataFrame:
    """Reads of `read_length` bp around the centres, random strand; off-chromosome ones dropped."""
    start = centres - read_length // 2
    size = np.array([chrom_sizes[c] for c in chroms], dtype=np.int64)
    inside = (start >= 0) & (start + read_length <= size)
    strand = np.where(rng.random(len(start)) < 0.5, "+", "-")
    return pd.DataFrame(
        {
            "chrom": chroms[inside],
            "start": start[inside],
            "end": start[inside] + read_length,
            "strand": strand[inside],
        }
    )


def _edge_case_reads(
    rng: np.random.Generator, config: DemoConfig, cell: str, mark: str
) -> pd.DataFrame:
    """A few reads on an unlisted contig (every file); two past chr3's end (one file)."""
    n_unplaced = int(rng.integers(2, 5))
    starts = np.sort(rng.integers(0, 50_000, n_unplaced))
    rows = [
        pd.DataFrame(
            {
                "chrom": UNPLACED_CHROM,
                "start": starts,
                "end": starts + READ_LENGTH,
                "strand": rng.choice(["+", "-"], n_unplaced),
            }
        )
    ]
    if (cell, mark) == OVERHANG_FILE:
        name, size = config.chrom_sizes[-1]
        starts = np.array([size - 20, size - 8])
        rows.append(
            pd.DataFrame(
                {"chrom": name, "start": starts, "end": starts + READ_LENGTH, "strand": ["+", "-"]}
            )
        )
    return pd.concat(rows, ignore_index=True)


def sorted_reads(reads: pd.DataFrame) -> pd.DataFrame:
    """Order by chromosome name, then start (as the REMC files), ties broken by strand."""
    return reads.sort_values(["chrom", "start", "strand"], kind="stable").reset_index(drop=True)


def simulate_reads(
    rng: np.random.Generator,
    config: DemoConfig,
    placed: pd.DataFrame,
    states: pd.DataFrame,
) -> dict[tuple[str, str], pd.DataFrame]:
    """One read table per (cell, mark), sorted as tagAlign files are."""
    sizes = dict(config.chrom_sizes)
    domains = _k9_domains(rng, config)
    reads = {}
    gene_depth = rng.lognormal(0.0, config.gene_depth_sd, len(placed))
    for cell in CELLS:
        programs = states[cell].to_numpy()
        # Depth of each gene in this cell; every mark varies a little more.
        depth = (
            CELL_DEPTH[cell] * gene_depth * rng.lognormal(0.0, config.cell_depth_sd, len(placed))
        )
        for mark in MARKS:
            jitter = rng.lognormal(0.0, 0.25, len(placed))
            background = int(round(config.background[mark] * CELL_DEPTH[cell]))
            parts = [
                gene_reads(rng, placed, programs, depth * jitter, mark),
                uniform_reads(rng, config.chrom_sizes, background),
            ]
            if mark == "H3K9me3":
                parts.append(_domain_reads(rng, domains, config.k9_domain_density))
            chroms = np.concatenate([p[0] for p in parts])
            centres = np.concatenate([p[1] for p in parts])
            table = to_reads(rng, chroms, centres, sizes)
            twice = rng.random(len(table)) < config.duplicate_fraction
            table = pd.concat(
                [table, table[twice], _edge_case_reads(rng, config, cell, mark)],
                ignore_index=True,
            )
            reads[(cell, mark)] = sorted_reads(table)
    return reads


# --------------------------------------------------------------------------- writing


def simulate(config: DemoConfig | None = None) -> DemoData:
    """Build the whole demo dataset in memory (deterministic for a given config)."""
    config = config or DemoConfig()
    rng = np.random.default_rng(config.seed)
    genes = simulate_genes(rng, config)
    info = gene_info_table(rng, genes)
    expression = simulate_expression(rng, genes)
    states = planted_states(rng, genes, expression, config.label_noise)
    placed = genes[genes["role"] != "expression_only"].reset_index(drop=True)
    reads = simulate_reads(rng, config, placed, states)
    return DemoData(genes=info, expression=expression, reads=reads, planted=states)


def gzip_bytes(text: str) -> bytes:
    """Gzip with no file name and mtime 0 in the header, so output is byte-reproducible."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("ascii"))
    return buffer.getvalue()


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _tsv(table: pd.DataFrame, header: bool, float_format: str | None = None) -> str:
    return table.to_csv(sep="\t", header=header, index=False, float_format=float_format)


def tagalign_path(out_dir: str | Path, cell: str, mark: str) -> Path:
    return Path(out_dir) / TAGALIGN_DIR / f"{cell}-{mark}.tagAlign.gz"


def tagalign_text(reads: pd.DataFrame) -> str:
    """BED6 as in REMC tagAlign files: name `N`, score `1000`."""
    table = reads[["chrom", "start", "end"]].copy()
    table["name"] = "N"
    table["score"] = 1000
    table["strand"] = reads["strand"]
    return _tsv(table, header=False)


def write_demo(out_dir: str | Path, config: DemoConfig | None = None) -> list[Path]:
    """Write every generated demo file under `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    config = config or DemoConfig()
    data = simulate(config)
    written = []

    sizes = "".join(f"{name}\t{size}\n" for name, size in config.chrom_sizes)
    write_bytes(out_dir / SIZES_NAME, sizes.encode("ascii"))
    written.append(out_dir / SIZES_NAME)

    write_bytes(out_dir / GENE_INFO_NAME, _tsv(data.genes, header=False).encode("ascii"))
    written.append(out_dir / GENE_INFO_NAME)

    write_bytes(out_dir / RPKM_NAME, gzip_bytes(_tsv(data.expression, True, "%.3f")))
    written.append(out_dir / RPKM_NAME)

    for (cell, mark), reads in data.reads.items():
        path = tagalign_path(out_dir, cell, mark)
        write_bytes(path, gzip_bytes(tagalign_text(reads)))
        written.append(path)
    return written
