"""Benchmark: the coverage pass (rule bam_coverage: CPM bigWig and QC tally of one BAM)
against deepTools' bamCoverage on the same BAM, on an hg19-size genome.

Simulates one mark of REMC-like reads (count_benchmark's simulator: hg19, random TSSs, 36-bp
reads, a share near TSSs), converts it to BAM, then runs each tool in a child process, in
turns (`--rounds` times, so that other load on the machine hits both alike), measuring wall
time and peak memory, and checks that their values agree bin by bin.

    python benchmarks/coverage_benchmark.py                 # 2 M reads, 50-bp bins
    python benchmarks/coverage_benchmark.py --reads 200000 --rounds 1
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
import pyBigWig

from attentivechrome.data.bam_conversion import tagalign_to_bam
from attentivechrome.data.genome import load_chrom_sizes, write_chrom_sizes

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "resources"))
from count_benchmark import random_genes, random_reads  # noqa: E402

from simulate.rehearsal import main_chromosomes  # noqa: E402

BAM_COVERAGE = Path(sys.executable).parent / "bamCoverage"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2_000_000)
    parser.add_argument("--genes", type=int, default=19_800)
    parser.add_argument("--bin-size", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_worker(bam: str, genes: str, sizes: str, out: str, bin_size: int) -> None:
    """Child process: the pipeline's pass, timed, with its peak memory."""
    from attentivechrome.tracks.coverage import bam_coverage

    begin = time.perf_counter()
    bam_coverage(
        Path(bam), Path(genes), Path(sizes), 5000, bin_size, {}, Path(out + ".qc.tsv"), Path(out)
    )
    seconds = time.perf_counter() - begin
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak}))


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, the child's peak memory (MiB) and its output."""
    begin = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - begin
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{result.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, result.stdout


def benchmark(args: argparse.Namespace, work: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    sizes = load_chrom_sizes("hg19")
    sizes_file = work / "chrom.sizes"
    write_chrom_sizes(sizes, sizes_file)
    genes = random_genes(main_chromosomes(sizes), args.genes, rng)
    genes_file = work / "genes.tsv"
    genes.to_csv(genes_file, sep="\t", index=False)
    tagalign = work / "reads.tagAlign.gz"
    random_reads(sizes, genes, args.reads, rng).to_csv(
        tagalign, sep="\t", header=False, index=False, compression={"method": "gzip"}
    )
    bam = work / "reads.bam"
    tagalign_to_bam(tagalign, sizes_file, bam, threads=2)
    ours, theirs = work / "ours.bw", work / "theirs.bw"
    runs: dict[str, list[dict]] = {"pipeline": [], "bamCoverage": []}
    for _ in range(args.rounds):
        worker = [sys.executable, __file__, "--bin-size", str(args.bin_size), "--worker"]
        _, _, output = timed(worker + [str(bam), str(genes_file), str(sizes_file), str(ours)])
        runs["pipeline"].append(json.loads(output.strip().splitlines()[-1]))
        command = [str(BAM_COVERAGE), "-b", str(bam), "-o", str(theirs), "-p", "1"]
        command += ["--normalizeUsing", "CPM", "--binSize", str(args.bin_size)]
        seconds, peak, _ = timed(command)
        # Peak memory of the children so far: the larger of both tools' (reported as such).
        runs["bamCoverage"].append({"seconds": seconds, "peak_rss_mib_children_max": peak})
        print(json.dumps({k: v[-1] for k, v in runs.items()}), flush=True)
    largest = 0.0
    with pyBigWig.open(str(ours)) as a, pyBigWig.open(str(theirs)) as b:
        for chrom, length in list(sizes.items())[:3]:
            x = np.nan_to_num(a.values(chrom, 0, length, numpy=True))
            y = np.nan_to_num(b.values(chrom, 0, length, numpy=True))
            nonzero = (x != 0) | (y != 0)
            assert ((x == 0) == (y == 0)).all(), chrom
            largest = max(largest, float((np.abs(x - y)[nonzero] / np.abs(y[nonzero])).max()))
    best = {name: min(r["seconds"] for r in results) for name, results in runs.items()}
    return {
        "reads": args.reads,
        "bin_size": args.bin_size,
        "runs": runs,
        "best_seconds": best,
        "bamCoverage_over_pipeline": best["bamCoverage"] / best["pipeline"],
        "largest_relative_difference_chr1_3": largest,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(*args.worker, bin_size=args.bin_size)
        return
    with tempfile.TemporaryDirectory(prefix="coverage-benchmark.") as work:
        results = benchmark(args, Path(work))
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
