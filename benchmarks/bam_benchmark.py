"""Benchmark: tagAlign -> sorted, indexed BAM with both writers (fast and bedtools).

Simulates REMC-like gzipped BED6 files (36 bp reads over hg19, count_benchmark's
simulator), converts each with both writers, each conversion in its own child process
(so peak memory is measured alike), and checks that the records are identical by a
streamed digest of the uncompressed records (every byte, bin included) and the @SQ lines.

    python benchmarks/bam_benchmark.py                          # 10 M and 40 M reads
    python benchmarks/bam_benchmark.py --reads 10000000 --workdir benchmarks/out/bam
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from count_benchmark import main_chromosomes, random_genes, random_reads

from attentivechrome.data.genome import load_chrom_sizes, write_chrom_sizes

WRITERS = ("fast", "bedtools")
#: Reads simulated at a time: bounds the simulator's memory for the 40 M-read file.
CHUNK_READS = 5_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, nargs="+", default=[10_000_000, 40_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="keep the files here; existing inputs are reused")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=WRITERS, help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    parser.add_argument("--bam", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def simulate(path: Path, sizes: dict[str, int], n_reads: int, seed: int) -> None:
    """n_reads REMC-like reads, written chunk by chunk to one gzipped file."""
    rng = np.random.default_rng(seed)
    genes = random_genes(main_chromosomes(sizes), 19_800, rng)
    partial = path.with_suffix(".partial")
    with gzip.open(partial, "wb", compresslevel=6) as out:
        for begin in range(0, n_reads, CHUNK_READS):
            chunk = random_reads(sizes, genes, min(CHUNK_READS, n_reads - begin), rng)
            out.write(chunk.to_csv(sep="\t", header=False, index=False).encode())
    partial.rename(path)


def peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def run_worker(args: argparse.Namespace) -> None:
    """Child process: one conversion; prints seconds and peak memory as JSON."""
    from attentivechrome.data.bam_conversion import tagalign_to_bam

    begin = time.perf_counter()
    stats = tagalign_to_bam(
        args.src, args.sizes, args.bam, threads=args.threads, bam_writer=args.worker
    )
    report = {
        "seconds": time.perf_counter() - begin,
        "reads": stats.n_reads,
        "kept": stats.n_kept,
        # This process (parsing, and samtools sort inside pysam) and its largest child
        # (bedtobam or bgzip); they run at the same time, so the sum bounds the job.
        "peak_rss_mib_python": peak_rss_mib(resource.RUSAGE_SELF),
        "peak_rss_mib_children": peak_rss_mib(resource.RUSAGE_CHILDREN),
    }
    print(json.dumps(report))


def convert(writer: str, src: Path, sizes_file: Path, bam: Path, threads: int) -> dict:
    command = [sys.executable, __file__, "--worker", writer, "--src", str(src)]
    command += ["--sizes", str(sizes_file), "--bam", str(bam), "--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{writer} worker failed:\n{result.stderr}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["peak_rss_mib"] = report["peak_rss_mib_python"] + report["peak_rss_mib_children"]
    return report


def records_digest(bam: Path) -> tuple[str, list[bytes]]:
    """SHA-256 of every record's bytes (streamed) and the reference list of the header."""
    digest = hashlib.sha256()
    with gzip.open(bam, "rb") as handle:
        if handle.read(4) != b"BAM\1":
            raise ValueError(f"{bam} is not a BAM file")
        (l_text,) = struct.unpack("<i", handle.read(4))
        handle.read(l_text)  # @PG lines differ by design; @SQ is compared below
        (n_refs,) = struct.unpack("<i", handle.read(4))
        references = []
        for _ in range(n_refs):
            (l_name,) = struct.unpack("<i", handle.read(4))
            references.append(handle.read(l_name + 4))
        while data := handle.read(16 << 20):
            digest.update(data)
    return digest.hexdigest(), references


def sq_lines(bam: Path) -> list[str]:
    import pysam

    with pysam.AlignmentFile(bam) as handle:
        return [line for line in str(handle.header).splitlines() if line.startswith("@SQ")]


def benchmark_size(work: Path, sizes: dict[str, int], n_reads: int, args) -> dict:
    src = work / f"sim-{n_reads}.tagAlign.gz"
    if not src.exists():
        print(f"simulating {n_reads:,} reads", flush=True)
        simulate(src, sizes, n_reads, args.seed)
    sizes_file = work / "chrom.sizes"
    result: dict = {"reads": n_reads, "input_mb": src.stat().st_size / 1e6}
    digests = {}
    for writer in WRITERS:
        bam = work / writer / f"sim-{n_reads}.bam"
        print(f"converting {n_reads:,} reads with {writer}", flush=True)
        report = convert(writer, src, sizes_file, bam, args.threads)
        report["bam_mb"] = bam.stat().st_size / 1e6
        digests[writer] = (records_digest(bam), sq_lines(bam))
        result[writer] = report
        print(f"  {report['seconds']:.1f} s, peak {report['peak_rss_mib']:.0f} MiB", flush=True)
        bam.unlink()
        Path(f"{bam}.bai").unlink()
    result["identical"] = digests["fast"] == digests["bedtools"]
    result["ratio"] = result["bedtools"]["seconds"] / result["fast"]["seconds"]
    fast_peak = result["fast"]["peak_rss_mib_python"] * 2**20
    result["fast_bytes_per_read_at_peak"] = fast_peak / n_reads
    return result


def print_summary(results: list[dict]) -> None:
    print()
    print("reads       writer    seconds  peak MiB (python + child)  BAM MB")
    for result in results:
        for writer in WRITERS:
            r = result[writer]
            print(
                f"{result['reads']:>10,}  {writer:8s} {r['seconds']:8.1f}  "
                f"{r['peak_rss_mib']:6.0f} ({r['peak_rss_mib_python']:.0f} + "
                f"{r['peak_rss_mib_children']:.0f})  {r['bam_mb']:8.1f}"
            )
        print(
            f"{'':10s}  ratio {result['ratio']:.1f}x; identical records: {result['identical']}; "
            f"fast writer: {result['fast_bytes_per_read_at_peak']:.1f} bytes per read at peak"
        )


def run(args: argparse.Namespace, work: Path) -> list[dict]:
    sizes = load_chrom_sizes("hg19")
    write_chrom_sizes(sizes, work / "chrom.sizes")
    return [benchmark_size(work, sizes, n, args) for n in args.reads]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        results = run(args, work)
    else:
        with tempfile.TemporaryDirectory(prefix="bam_benchmark.") as tmp:
            results = run(args, Path(tmp))
    print_summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(result["identical"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
