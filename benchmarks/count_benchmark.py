"""Benchmark: tagAlign -> BAM conversion, then bedtools multicov against count_fast.

Generates synthetic REMC-like data (hg19 chromosome sizes, random TSSs, 36 bp reads of
which a share falls near TSSs), converts each mark with tagalign_to_bam, counts the same
BAMs with both counters, each in its own child process (so that peak memory is measured
alike), checks that the counts are identical and projects the time of the full REMC run.

    python benchmarks/count_benchmark.py                       # full size (multicov: minutes)
    python benchmarks/count_benchmark.py --reads 200000 --genes 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.bam_conversion import tagalign_to_bam
from attentivechrome.data.genome import load_chrom_sizes, write_chrom_sizes
from attentivechrome.data.windows import gene_bins

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "resources"))
from simulate.rehearsal import main_chromosomes  # noqa: E402

MARKS = ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3"]
READ_LENGTH = 36
#: The full REMC run: 56 epigenomes x 5 marks, about 40 M reads a file.
REMC_FILES = 280
REMC_READS = 40_000_000
#: 19,802 genes x 100 bins, the published gene list.
REMC_BINS = 1_980_200
#: The published window: TSS +- 5 kb in 100-bp bins (config/config.yaml's window).
FLANK, BIN_SIZE = 5000, 100
#: Share of the reads put within 5 kb of a TSS, so that bins hold realistic counts.
NEAR_TSS = 0.3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2_000_000, help="reads per mark")
    parser.add_argument("--genes", type=int, default=19_800)
    parser.add_argument("--marks", type=int, default=5, choices=range(1, 6))
    parser.add_argument("--genome", default="hg19", help="'hg19' or a chromosome sizes file")
    parser.add_argument("--threads", type=int, default=2, help="threads for BAM sorting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="keep the generated files here (default: temporary)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=["fast", "multicov"], help=argparse.SUPPRESS)
    parser.add_argument("--bins", help=argparse.SUPPRESS)
    parser.add_argument("--bams", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def random_genes(sizes: dict[str, int], n: int, rng: np.random.Generator) -> pd.DataFrame:
    chroms = list(sizes)
    lengths = np.array([sizes[c] for c in chroms], dtype=np.int64)
    pick = rng.choice(len(chroms), size=n, p=lengths / lengths.sum())
    tss = (rng.random(n) * lengths[pick]).astype(np.int64)
    order = np.lexsort((tss, pick))
    return pd.DataFrame(
        {
            "gene_id": [f"ENSG{i:011d}" for i in range(n)],
            "chrom": np.array(chroms)[pick][order],
            "tss": tss[order],
        }
    )


def random_reads(
    sizes: dict[str, int], genes: pd.DataFrame, n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Reads spread over the genome plus a share near TSSs, a few on unknown contigs."""
    chroms = list(sizes)
    lengths = np.array([sizes[c] for c in chroms], dtype=np.int64)
    n_near = int(n * NEAR_TSS)
    n_bad = max(n // 10_000, 1)  # unknown chromosome or past a chromosome end
    n_far = n - n_near - 2 * n_bad
    pick = rng.choice(len(chroms), size=n_far, p=lengths / lengths.sum())
    far_start = (rng.random(n_far) * (lengths[pick] - READ_LENGTH)).astype(np.int64)
    gene = rng.integers(0, len(genes), size=n_near)
    near_chrom = genes["chrom"].to_numpy()[gene]
    near_size = pd.Series(near_chrom).map(sizes).to_numpy(dtype=np.int64)
    offset = rng.integers(-5000, 5000, size=n_near)
    near_start = np.clip(genes["tss"].to_numpy()[gene] + offset, 0, near_size - READ_LENGTH)
    past_chrom = np.array(chroms)[rng.integers(0, len(chroms), size=n_bad)]
    past_start = pd.Series(past_chrom).map(sizes).to_numpy(dtype=np.int64) - READ_LENGTH // 2
    chrom = np.concatenate(
        [np.array(chroms)[pick], near_chrom, np.full(n_bad, "chrUn_unknown"), past_chrom]
    )
    start = np.concatenate([far_start, near_start, rng.integers(0, 10**6, size=n_bad), past_start])
    strand = np.where(rng.random(n) < 0.5, "+", "-")
    return pd.DataFrame(
        {
            "chrom": chrom,
            "start": start,
            "end": start + READ_LENGTH,
            "name": "N",
            "score": 1000,
            "strand": strand,
        }
    ).sample(frac=1.0, random_state=int(rng.integers(2**31)))


def peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def run_worker(args: argparse.Namespace) -> None:
    """Child process: count once, save the counts, print seconds and peak memory as JSON."""
    from attentivechrome.data.counting import count_fast, count_multicov

    bins = pd.read_csv(args.bins, sep="\t", dtype={"chrom": str})
    counter = count_fast if args.worker == "fast" else count_multicov
    begin = time.perf_counter()
    counts = counter(args.bams, bins)
    seconds = time.perf_counter() - begin
    np.save(args.out, counts)
    report = {
        "seconds": seconds,
        "peak_rss_mib_python": peak_rss_mib(resource.RUSAGE_SELF),
        "peak_rss_mib_children": peak_rss_mib(resource.RUSAGE_CHILDREN),
    }
    print(json.dumps(report))


def run_counter(name: str, bams: list[Path], bins_file: Path, out: Path) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--bins", str(bins_file)]
    command += ["--out", str(out), "--bams", *map(str, bams)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{result.stderr}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # multicov's memory is that of the bedtools child; count_fast's that of the worker.
    key = "peak_rss_mib_children" if name == "multicov" else "peak_rss_mib_python"
    report["peak_rss_mib"] = report[key]
    return report


def convert(work: Path, sizes_file: Path, tagaligns: list[Path], threads: int) -> dict:
    bams, seconds, reads = [], 0.0, 0
    for tagalign in tagaligns:
        bam = work / tagalign.name.replace(".tagAlign.gz", ".bam")
        begin = time.perf_counter()
        stats = tagalign_to_bam(tagalign, sizes_file, bam, threads=threads)
        seconds += time.perf_counter() - begin
        reads += stats.n_reads
        bams.append(bam)
        print(f"  {bam.name}: {stats.summary()}", flush=True)
    return {"bams": bams, "seconds": seconds, "reads": reads, "reads_per_s": reads / seconds}


def benchmark(args: argparse.Namespace, work: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    sizes = load_chrom_sizes(args.genome)
    sizes_file = work / "chrom.sizes"
    write_chrom_sizes(sizes, sizes_file)
    genes = random_genes(main_chromosomes(sizes), args.genes, rng)
    bins = gene_bins(genes, sizes, FLANK, BIN_SIZE)
    bins_file = work / "bins.tsv"
    bins.to_csv(bins_file, sep="\t", index=False)

    print(f"generating {args.marks} x {args.reads} reads, {len(bins)} bins", flush=True)
    tagaligns = []
    for mark in MARKS[: args.marks]:
        path = work / f"E000-{mark}.tagAlign.gz"
        random_reads(sizes, genes, args.reads, rng).to_csv(
            path, sep="\t", header=False, index=False, compression={"method": "gzip"}
        )
        tagaligns.append(path)

    print("converting to BAM", flush=True)
    conversion = convert(work, sizes_file, tagaligns, args.threads)
    bams = conversion.pop("bams")
    print(f"  {conversion['reads_per_s']:,.0f} reads/s", flush=True)

    results = {"reads_per_mark": args.reads, "marks": args.marks, "bins": len(bins)}
    results["conversion"] = conversion
    for name in ("fast", "multicov"):
        print(f"counting with {name}", flush=True)
        results[name] = run_counter(name, bams, bins_file, work / f"{name}.npy")
        print(f"  {results[name]['seconds']:.1f} s", flush=True)
    fast = np.load(work / "fast.npy")
    multicov = np.load(work / "multicov.npy")
    results["identical"] = bool(np.array_equal(fast, multicov))
    results["total_count"] = int(fast.sum())
    results["speedup"] = results["multicov"]["seconds"] / results["fast"]["seconds"]
    results["projection"] = project(results)
    return results


def project(results: dict) -> dict:
    """Hours for the full REMC run on this machine, scaling the measured rates linearly."""
    reads = results["reads_per_mark"] * results["marks"]
    fast_per_read = results["fast"]["seconds"] / reads
    conversion_per_read = results["conversion"]["seconds"] / results["conversion"]["reads"]
    total_reads = REMC_FILES * REMC_READS
    multicov_per_bin_bam = results["multicov"]["seconds"] / (results["bins"] * results["marks"])
    return {
        "conversion_h": conversion_per_read * total_reads / 3600,
        "count_fast_h": fast_per_read * total_reads / 3600,
        # multicov's time grows with bins and with read depth: this is a lower bound.
        "multicov_at_least_h": multicov_per_bin_bam * REMC_BINS * REMC_FILES / 3600,
    }


def print_summary(results: dict) -> None:
    fast, multicov, proj = results["fast"], results["multicov"], results["projection"]
    conversion = results["conversion"]
    print()
    reads, bins, rate = results["reads_per_mark"], results["bins"], conversion["reads_per_s"]
    print(f"reads: {results['marks']} marks x {reads:,}; bins: {bins:,}")
    print(f"tagalign_to_bam: {conversion['seconds']:.1f} s, {rate:,.0f} reads/s")
    print(f"multicov:   {multicov['seconds']:8.1f} s, peak RSS {multicov['peak_rss_mib']:7.0f} MiB")
    print(f"count_fast: {fast['seconds']:8.1f} s, peak RSS {fast['peak_rss_mib']:7.0f} MiB")
    print(f"speed-up: {results['speedup']:.0f}x; identical counts: {results['identical']}")
    print(
        f"full REMC run ({REMC_FILES} files x {REMC_READS / 1e6:.0f} M reads): conversion "
        f"{proj['conversion_h']:.1f} h + count_fast {proj['count_fast_h']:.2f} h "
        f"(multicov: at least {proj['multicov_at_least_h']:.0f} h)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        results = benchmark(args, work)
    else:
        with tempfile.TemporaryDirectory(prefix="count_benchmark.") as tmp:
            results = benchmark(args, Path(tmp))
    print_summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
