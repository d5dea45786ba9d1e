"""One simulated REMC-size cell type in Roadmap's formats, for benchmarks/rehearsal.py.

Writes the files the real REMC run downloads, at their real sizes: a gene_info table of
~19,800 genes on hg19's chr1..22, X, Y; an RPKM matrix (gene_id, E000, the cell); one
tagAlign file of 36-bp reads per mark. Genes cluster and avoid the assembly's gaps;
marks follow expression as in real ChIP-seq (see MARK_MODEL).

Reads are sorted by chromosome (chr1..22, X, Y, M, then the other hg19 contigs, as
pybedtools lists them) and by start within each chunk; a chromosome whose reads fit one
chunk (all of them below ~100 M reads per mark) is fully sorted, like the roughly sorted
REMC files. Generation is chunked (memory grows with the largest chunk, chr1's reads: about
8% of a mark's), lines are formatted in blocks of FORMAT_LINES and gzip runs in a
second thread (or in pigz/bgzip).
"""

from __future__ import annotations

import gzip
import math
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.genome import load_chrom_sizes
from attentivechrome.io import BackgroundWriter
from simulate.demo import MARKS, READ_LENGTH, REFERENCE_CELL, gene_ids, tagalign_path

__all__ = ["GENE_INFO_NAME", "MARKS", "RPKM_NAME", "main_chromosomes", "write_cell"]

GENE_INFO_NAME = "Ensembl_v65.Gencode_v10.ENSG.gene_info"
RPKM_NAME = "57epigenomes.RPKM.pc.gz"
FRAGMENT = 200  # ChIP fragment length: + reads start at its 5' end, - reads end at its 3' end

#: Protein-coding genes per chromosome, roughly as in Ensembl/GENCODE on hg19 (rounded,
#: from memory of the published per-chromosome counts; within ~10% of the real ones).
#: Used as weights, so only the proportions matter: gene density per Mb is highest on
#: chr19 (~25/Mb), chr17 and chr22, lowest on chr13, chr18, chr4 and chrY (~1-5/Mb).
GENES_PER_CHROM = {
    "chr1": 2050, "chr2": 1250, "chr3": 1080, "chr4": 760, "chr5": 880, "chr6": 1040,
    "chr7": 930, "chr8": 690, "chr9": 780, "chr10": 740, "chr11": 1300, "chr12": 1030,
    "chr13": 320, "chr14": 610, "chr15": 600, "chr16": 850, "chr17": 1180, "chr18": 270,
    "chr19": 1470, "chr20": 540, "chr21": 230, "chr22": 440, "chrX": 840, "chrY": 60,
}  # fmt: skip

#: Regions without genes and without mappable reads (Mb, approximate, from the UCSC hg19
#: gap table: centromeres, large heterochromatin blocks, the short arms of the acrocentric
#: chromosomes and Yq12). Genes are placed and background reads drawn outside them.
GAPS_MB = {
    "chr1": [(121.5, 144.0)], "chr2": [(92.3, 95.3)], "chr3": [(90.5, 93.5)],
    "chr4": [(49.7, 52.7)], "chr5": [(46.4, 49.4)], "chr6": [(58.8, 61.8)],
    "chr7": [(58.1, 61.1)], "chr8": [(43.8, 46.8)], "chr9": [(38.5, 71.0)],
    "chr10": [(39.3, 42.3)], "chr11": [(51.6, 54.6)], "chr12": [(34.9, 37.9)],
    "chr13": [(0.0, 19.0)], "chr14": [(0.0, 19.0)], "chr15": [(0.0, 20.0)],
    "chr16": [(35.3, 46.5)], "chr17": [(22.3, 25.3)], "chr18": [(15.4, 18.4)],
    "chr19": [(24.7, 27.7)], "chr20": [(26.4, 29.4)], "chr21": [(0.0, 14.3)],
    "chr22": [(0.0, 16.0)], "chrX": [(58.6, 61.6)], "chrY": [(10.1, 13.1), (28.8, 59.4)],
}  # fmt: skip

GENE_LENGTH_MEDIAN = 25_000
GENE_LENGTH_SIGMA = 1.1  # log-normal: mean ~45 kb, 5% above ~150 kb
GENE_LENGTH_RANGE = (600, 2_000_000)
CLUSTER_BIN = 1_000_000  # genes cluster: each 1-Mb bin's density is gamma-distributed
CLUSTER_SHAPE = 0.6
SILENT_SHARE = 1 / 3  # genes near zero RPKM
#: Lines formatted at once: small blocks stay in the CPU caches (4 M lines formatted in
#: blocks of 100 k took 1.6 s, in one block 8.6 s) and keep the memory low.
FORMAT_LINES = 200_000
CHRM_SHARE = 0.002  # mitochondrial reads, a small share as in real ChIP-seq


@dataclass(frozen=True)
class Mark:
    """Reads of one mark: `signal` of them planted on features of `shape`, the rest uniform."""

    signal: float
    shape: str


#: Shares of reads on features (FRiP-like): H3K4me3 gives the sharpest, strongest peaks,
#: H3K36me3 covers whole expressed bodies, the broad repressive marks are weakly enriched.
MARK_MODEL = {
    "H3K4me3": Mark(0.35, "promoter"),  # TSSs of expressed genes
    "H3K4me1": Mark(0.20, "flanks"),  # 1-5 kb either side of TSSs of expressed genes
    "H3K36me3": Mark(0.35, "body"),  # bodies of expressed genes, towards the 3' end
    "H3K9me3": Mark(0.25, "domain"),  # broad heterochromatin domains, not gene-linked
    "H3K27me3": Mark(0.15, "polycomb"),  # broad, around TSSs of silent genes
}


# --------------------------------------------------------------------------- genome


def main_chromosomes(sizes: dict[str, int]) -> dict[str, int]:
    """chr1..22, X, Y: where genes and most reads are (no random contigs, no chrM)."""
    main = {c: n for c, n in sizes.items() if "_" not in c and c not in ("chrM", "chrMT")}
    return main or sizes


def allowed_intervals(sizes: dict[str, int], chrom: str) -> list[tuple[int, int]]:
    """Parts of a chromosome outside GAPS_MB, as (start, end) half-open."""
    size = sizes[chrom]
    cuts = sorted((int(a * 1e6), min(int(b * 1e6), size)) for a, b in GAPS_MB.get(chrom, []))
    intervals, position = [], 0
    for start, end in cuts:
        if start > position:
            intervals.append((position, start))
        position = max(position, end)
    if position < size:
        intervals.append((position, size))
    return intervals


def gene_chromosomes(sizes: dict[str, int]) -> dict[str, float]:
    """Weights of the chromosomes that carry genes (chr1..22, X, Y present in `sizes`)."""
    main = main_chromosomes(sizes)
    weights = {c: w for c, w in GENES_PER_CHROM.items() if c in main}
    if not weights:  # another genome: genes in proportion to length
        weights = {c: float(n) for c, n in main.items()}
    return weights


# --------------------------------------------------------------------------- genes


def place_genes(rng: np.random.Generator, sizes: dict[str, int], n: int) -> pd.DataFrame:
    """chrom, start, end (1-based, inclusive), strand (1/-1), in genomic order."""
    weights = gene_chromosomes(sizes)
    chroms = list(weights)
    p = np.array([weights[c] for c in chroms], dtype=float)
    counts = rng.multinomial(n, p / p.sum())
    frames = []
    for chrom, count in zip(chroms, counts, strict=True):
        if count == 0:
            continue
        # 1-Mb bins of the gene-bearing parts, each with a gamma-distributed density.
        bins = [
            (a, min(a + CLUSTER_BIN, end))
            for start, end in allowed_intervals(sizes, chrom)
            for a in range(start, end, CLUSTER_BIN)
        ]
        lo = np.array([b[0] for b in bins])
        width = np.array([b[1] - b[0] for b in bins])
        density = rng.gamma(CLUSTER_SHAPE, size=len(bins)) * width
        pick = rng.choice(len(bins), size=count, p=density / density.sum())
        tss = lo[pick] + (rng.random(count) * width[pick]).astype(np.int64) + 1
        strand = np.where(rng.random(count) < 0.5, 1, -1)
        length = rng.lognormal(math.log(GENE_LENGTH_MEDIAN), GENE_LENGTH_SIGMA, count)
        length = np.clip(length, *GENE_LENGTH_RANGE).astype(np.int64)
        start = np.where(strand == 1, tss, np.maximum(1, tss - length + 1))
        end = np.where(strand == 1, np.minimum(sizes[chrom], tss + length - 1), tss)
        frames.append(pd.DataFrame({"chrom": chrom, "start": start, "end": end, "strand": strand}))
    genes = pd.concat(frames, ignore_index=True)
    order = np.lexsort((genes["start"], genes["chrom"].map({c: i for i, c in enumerate(chroms)})))
    return genes.iloc[order].reset_index(drop=True)


def simulate_genes(rng: np.random.Generator, sizes: dict[str, int], n: int) -> pd.DataFrame:
    """Genes with ids (sorted ids assigned in random genomic order, as in Ensembl)."""
    genes = place_genes(rng, sizes, n)
    genes.insert(0, "gene_id", gene_ids(rng, n, 280_000)[rng.permutation(n)])
    genes["tss"] = np.where(genes["strand"] == 1, genes["start"], genes["end"])
    return genes


def gene_info_table(genes: pd.DataFrame) -> pd.DataFrame:
    """Roadmap gene_info columns: id, chromosome without `chr`, start, end, strand, ..."""
    info = genes.sort_values("gene_id").reset_index(drop=True)
    number = np.arange(1, len(info) + 1)
    return pd.DataFrame(
        {
            "gene_id": info["gene_id"],
            "chrom": info["chrom"].str.removeprefix("chr"),
            "start": info["start"],
            "end": info["end"],
            "strand": info["strand"],
            "gene_type": "protein_coding",
            "symbol": [f"REH{i:05d}" for i in number],
            "description": [
                f"simulated rehearsal gene {i} [Source:rehearsal;Acc:{i}]" for i in number
            ],
        }
    )


def simulate_expression(rng: np.random.Generator, ids: pd.Series, cell: str) -> pd.DataFrame:
    """RPKM: log-normal (median ~8) for expressed genes, a third near zero (half exactly 0)."""
    n = len(ids)
    shared = rng.normal(size=n)
    columns = {}
    for name in (REFERENCE_CELL, cell):
        score = 0.8 * shared + 0.6 * rng.normal(size=n)
        rpkm = np.exp(2.1 + 1.6 * score)
        silent = score < np.quantile(score, SILENT_SHARE)
        near_zero = np.where(rng.random(n) < 0.5, 0.0, rng.exponential(0.15, n))
        columns[name] = np.round(np.where(silent, near_zero, rpkm), 3)
    return pd.DataFrame({"gene_id": ids.to_numpy(), **columns})


# --------------------------------------------------------------------------- read features


@dataclass
class Features:
    """Where one mark's signal reads go: per feature a chromosome, anchor, sign, extent."""

    chrom: np.ndarray  # chromosome index into the sizes list
    anchor: np.ndarray  # TSS, or domain start
    sign: np.ndarray  # +1 / -1: transcription direction
    extent: np.ndarray  # gene length or domain width
    weight: np.ndarray  # relative number of reads
    shape: str


def expression_level(rpkm: np.ndarray) -> np.ndarray:
    return np.log2(1.0 + rpkm)


def mark_features(
    rng: np.random.Generator,
    mark: str,
    genes: pd.DataFrame,
    rpkm: np.ndarray,
    chrom_index: dict[str, int],
    domains: pd.DataFrame,
) -> Features:
    """Each gene's (or domain's) weight for one mark, with per-gene log-normal noise."""
    shape = MARK_MODEL[mark].shape
    if shape == "domain":
        return Features(
            chrom=domains["chrom"].map(chrom_index).to_numpy(),
            anchor=domains["start"].to_numpy(),
            sign=np.ones(len(domains), dtype=np.int64),
            extent=domains["width"].to_numpy(),
            weight=domains["width"].to_numpy() * rng.gamma(2.0, 0.5, len(domains)),
            shape=shape,
        )
    level = expression_level(rpkm)
    noise = rng.lognormal(0.0, 0.5, len(genes))
    extent = (genes["end"] - genes["start"] + 1).to_numpy()
    if shape == "promoter":
        weight = (level + 0.1) * noise
    elif shape == "flanks":
        weight = (np.sqrt(level) + 0.2) * noise
    elif shape == "body":  # reads per bp grow with expression: weight x length
        weight = (level + 0.02) * extent * noise
    elif shape == "polycomb":  # silent genes, above all those at exactly zero
        weight = (np.exp(-1.5 * level) + 0.02) * noise
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return Features(
        chrom=genes["chrom"].map(chrom_index).to_numpy(),
        anchor=genes["tss"].to_numpy() - 1,  # 0-based
        sign=genes["strand"].to_numpy(),
        extent=extent,
        weight=weight,
        shape=shape,
    )


def h3k9me3_domains(rng: np.random.Generator, sizes: dict[str, int]) -> pd.DataFrame:
    """~2,000 broad domains (log-normal widths, median 100 kb) over ~8% of the genome."""
    chroms = list(gene_chromosomes(sizes))
    rows = []
    for chrom in chroms:
        intervals = allowed_intervals(sizes, chrom)
        mappable = sum(b - a for a, b in intervals)
        n = rng.poisson(mappable / 1.4e6)
        for _ in range(n):
            a, b = intervals[int(rng.integers(len(intervals)))]
            width = int(np.clip(rng.lognormal(math.log(100_000), 0.9), 10_000, 3_000_000))
            width = min(width, b - a - 1)
            start = int(rng.integers(a, b - width))
            rows.append((chrom, start, width))
    return pd.DataFrame(rows, columns=["chrom", "start", "width"])


def centres(rng: np.random.Generator, f: Features, index: np.ndarray) -> np.ndarray:
    """Fragment centres of reads drawn from features `index` (one entry per read)."""
    n = len(index)
    anchor, sign, extent = f.anchor[index], f.sign[index], f.extent[index]
    if f.shape == "promoter":  # a sharp peak just downstream of the TSS
        offset = rng.normal(250.0, 500.0, n)
    elif f.shape == "flanks":  # enhancer-like bumps either side
        offset = rng.choice([-1.0, 1.0], n) * rng.uniform(1_000.0, 5_000.0, n)
    elif f.shape == "body":  # uniform over the body, denser towards the 3' end
        offset = extent * np.sqrt(rng.random(n))
    elif f.shape == "polycomb":  # a broad domain centred on the TSS
        offset = rng.normal(0.0, 3_000.0, n)
    elif f.shape == "domain":
        return anchor + (rng.random(n) * extent).astype(np.int64)
    else:
        raise ValueError(f"unknown shape {f.shape!r}")
    return anchor + np.round(sign * offset).astype(np.int64)


# --------------------------------------------------------------------------- formatting


class LineFormatter:
    """tagAlign lines for arrays of (chromosome index, start, strand), vectorised in numpy.

    Each line is laid out in a fixed-width byte matrix whose padding is NUL; dropping the
    NUL bytes leaves the lines. About 10x faster than pandas' to_csv.
    """

    def __init__(self, names: list[str], max_size: int):
        self.name_width = max(len(n) for n in names)
        self.names = np.zeros((len(names), self.name_width), dtype=np.uint8)
        for i, name in enumerate(names):
            self.names[i, : len(name)] = np.frombuffer(name.encode(), dtype=np.uint8)
        self.digits = len(str(max_size))
        self.powers = 10 ** np.arange(self.digits - 1, -1, -1, dtype=np.int64)

    def _numbers(self, values: np.ndarray) -> np.ndarray:
        digits = (values[:, None] // self.powers) % 10 + ord("0")
        digits = digits.astype(np.uint8)
        leading = values[:, None] < self.powers  # zeros before the first digit
        leading[:, -1] = False
        digits[leading] = 0
        return digits

    def format(self, chrom: np.ndarray, start: np.ndarray, minus: np.ndarray) -> bytes:
        d, w = self.digits, self.name_width
        tail = b"\tN\t1000\t"
        width = w + 1 + d + 1 + d + len(tail) + 2
        lines = np.zeros((len(start), width), dtype=np.uint8)
        lines[:, :w] = self.names[chrom]
        lines[:, w] = ord("\t")
        lines[:, w + 1 : w + 1 + d] = self._numbers(start)
        lines[:, w + 1 + d] = ord("\t")
        lines[:, w + 2 + d : w + 2 + 2 * d] = self._numbers(start + READ_LENGTH)
        at = w + 2 + 2 * d
        lines[:, at : at + len(tail)] = np.frombuffer(tail, dtype=np.uint8)
        lines[:, at + len(tail)] = np.where(minus, ord("-"), ord("+"))
        lines[:, -1] = ord("\n")
        flat = lines.ravel()
        return flat[flat != 0].tobytes()


class GzipWriter:
    """Compresses in a background thread (zlib frees the GIL) or in pigz/bgzip."""

    def __init__(self, path: Path, level: int, compressor: str, threads: int):
        self.path = path
        self.proc = None
        self.tmp = path.with_name(path.name + ".part")
        if compressor == "zlib":
            self.out = gzip.open(self.tmp, "wb", compresslevel=level)  # noqa: SIM115
        else:
            command = [compressor, f"-{level}", "-c"]
            command += ["-p", str(threads)] if compressor == "pigz" else ["-@", str(threads)]
            self.handle = open(self.tmp, "wb")  # noqa: SIM115 (closed in close())
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=self.handle)
            self.out = self.proc.stdin
        # The pipeline's pipe feeder: it writes from a thread and closes `out` at the end.
        self.writer = BackgroundWriter(self.out)

    def write(self, block: bytes) -> None:
        self.writer.write(block)

    def close(self) -> None:
        self.writer.close()
        if self.proc is not None:
            code = self.proc.wait()
            self.handle.close()
            if code != 0:
                raise RuntimeError(f"compressor exited with {code} on {self.path}")
        self.tmp.replace(self.path)


def pick_compressor(choice: str) -> str:
    if choice != "auto":
        if choice != "zlib" and not shutil.which(choice):
            raise SystemExit(f"{choice} is not installed")
        return choice
    return "pigz" if shutil.which("pigz") else "zlib"


# --------------------------------------------------------------------------- reads


def split_counts(rng: np.random.Generator, counts: np.ndarray, parts: int) -> list[np.ndarray]:
    """Counts divided at random into `parts` arrays that sum to `counts`."""
    out, left = [], counts.copy()
    for k in range(parts, 1, -1):
        share = rng.binomial(left, 1.0 / k)
        out.append(share)
        left -= share
    out.append(left)
    return out


def write_mark(
    rng: np.random.Generator,
    n_reads: int,
    signal: float,
    features: Features,
    sizes: dict[str, int],
    writer: GzipWriter,
    chunk: int,
) -> int:
    """One tagAlign file: background + signal reads, chromosome by chromosome."""
    names = list(sizes)
    size = np.array([sizes[c] for c in names], dtype=np.int64)
    formatter = LineFormatter(names, int(size.max()))
    # Background over the mappable genome (contigs included), plus a share on chrM.
    mappable = {c: allowed_intervals(sizes, c) for c in names}
    lengths = np.array([sum(b - a for a, b in mappable[c]) for c in names], dtype=float)
    p = lengths / lengths.sum()
    if "chrM" in sizes:
        p *= 1 - CHRM_SHARE
        p[names.index("chrM")] += CHRM_SHARE
    n_signal = int(round(n_reads * signal))
    background = rng.multinomial(n_reads - n_signal, p)
    per_feature = rng.multinomial(n_signal, features.weight / features.weight.sum())
    written = 0
    for c, name in enumerate(names):
        mine = np.flatnonzero((features.chrom == c) & (per_feature > 0))
        total = int(background[c] + per_feature[mine].sum())
        if total == 0:
            continue
        parts = max(1, math.ceil(total / chunk))
        bg_parts = split_counts(rng, np.array([background[c]]), parts)
        sig_parts = split_counts(rng, per_feature[mine], parts)
        intervals = np.array(mappable[name], dtype=np.int64)
        widths = intervals[:, 1] - intervals[:, 0]
        for bg, sig in zip(bg_parts, sig_parts, strict=True):
            n_bg = int(bg[0])
            which = rng.choice(len(widths), size=n_bg, p=widths / widths.sum())
            bg_centre = intervals[which, 0] + (rng.random(n_bg) * widths[which]).astype(np.int64)
            sig_centre = centres(rng, features, np.repeat(mine, sig))
            centre = np.concatenate([bg_centre, sig_centre])
            minus = rng.random(len(centre)) < 0.5
            start = np.where(minus, centre + FRAGMENT // 2 - READ_LENGTH, centre - FRAGMENT // 2)
            start = np.clip(start, 0, size[c] - READ_LENGTH)
            key = np.sort(start * 2 + minus)  # sort by start, strand carried in the low bit
            chrom = np.full(min(len(key), FORMAT_LINES), c, dtype=np.intp)
            for at in range(0, len(key), FORMAT_LINES):
                part = key[at : at + FORMAT_LINES]
                writer.write(formatter.format(chrom[: len(part)], part >> 1, part & 1))
            written += len(key)
    return written


# --------------------------------------------------------------------------- files


def write_cell(
    work: Path,
    cell: str,
    n_genes: int,
    reads: float,
    marks: list[str],
    genome: str = "hg19",
    seed: int = 2017,
    chunk: float = 8.0,
    level: int = 1,
    compressor: str = "auto",
    threads: int = 2,
) -> str:
    """Gene table, RPKM and one tagAlign file per mark (`reads` million reads) under `work`.

    Prints each file's size and time; returns the compressor used.
    """
    begin = time.perf_counter()
    rng = np.random.default_rng(seed)
    sizes = load_chrom_sizes(genome)
    genes = simulate_genes(rng, sizes, n_genes)
    info = gene_info_table(genes)
    info.to_csv(work / GENE_INFO_NAME, sep="\t", header=False, index=False)
    expression = simulate_expression(rng, info["gene_id"], cell)
    expression.to_csv(
        work / RPKM_NAME, sep="\t", index=False, compression={"method": "gzip", "compresslevel": 6}
    )
    rpkm = expression.set_index("gene_id")[cell].reindex(genes["gene_id"]).to_numpy()
    print(
        f"{len(info)} genes on {info['chrom'].nunique()} chromosomes; "
        f"{(rpkm < 0.5).mean():.0%} below 0.5 RPKM; {time.perf_counter() - begin:.1f} s",
        flush=True,
    )

    compressor = pick_compressor(compressor)
    chrom_index = {c: i for i, c in enumerate(sizes)}
    domains = h3k9me3_domains(rng, sizes)
    n_reads = int(round(reads * 1e6))
    for mark in marks:
        started = time.perf_counter()
        features = mark_features(rng, mark, genes, rpkm, chrom_index, domains)
        path = tagalign_path(work, cell, mark)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = GzipWriter(path, level, compressor, threads)
        per_chunk = max(1, int(chunk * 1e6))
        written = write_mark(
            rng, n_reads, MARK_MODEL[mark].signal, features, sizes, writer, per_chunk
        )
        writer.close()
        seconds = time.perf_counter() - started
        print(
            f"{path.name}: {written:,} reads, {path.stat().st_size / 2**20:,.0f} MiB, "
            f"{seconds:.1f} s ({seconds / max(written / 1e6, 1e-9):.2f} s per M reads)",
            flush=True,
        )
    return compressor
