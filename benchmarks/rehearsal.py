"""Rehearsal: one simulated REMC-size cell type, in the pipeline's input formats.

Writes, under WORKDIR, the files the real REMC run downloads, at their real sizes
(simulate.rehearsal, in resources/, simulates them):

    Ensembl_v65.Gencode_v10.ENSG.gene_info   ~19,800 genes on chr1..22, X, Y (hg19)
    57epigenomes.RPKM.pc.gz                  gene_id, E000, <CELL>
    tagalign/<CELL>-<MARK>.tagAlign.gz       5 marks x --reads million 36-bp reads
    rehearsal.yaml                           config/remc.yaml, pointed at these files

then prints the `snakemake` command that runs them through the real rules. After that
run, `--report` reads every job's benchmark file and projects the full 56-cell-type run;
each job's rule, threads and resources come from a Snakemake dry run of the same config.

    python benchmarks/rehearsal.py /scratch/rehearsal                # 5 x 30 M reads
    python benchmarks/rehearsal.py /tmp/r --reads 2                  # a smoke run
    python benchmarks/rehearsal.py --report /scratch/rehearsal       # after snakemake
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "resources")]
from count_benchmark import peak_rss_mib  # noqa: E402

from simulate.rehearsal import GENE_INFO_NAME, MARKS, RPKM_NAME, write_cell  # noqa: E402

REMC_CONFIG = REPO / "config" / "remc.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
CONFIG_NAME = "rehearsal.yaml"


# --------------------------------------------------------------------------- config


def rehearsal_config(work: Path, cell: str, n_genes: int) -> dict:
    """config/remc.yaml with one cell type, local sources and results inside `work`."""
    config = yaml.safe_load(REMC_CONFIG.read_text())
    config["cell_types"] = [cell]
    if "cell_table" in config:
        config["cell_table"] = str((REPO / config["cell_table"]).resolve())
    config["sources"] = {
        "tagalign": str(work / "tagalign" / "{cell}-{mark}.tagAlign.gz"),
        "expression": str(work / RPKM_NAME),
        "genes": str(work / GENE_INFO_NAME),
        "chrom_sizes": "hg19",
    }
    config["results"] = str(work / "results")
    split = config.get("split", {})
    if n_genes <= split.get("train", 6601) + split.get("valid", 6601):
        # Too few genes for the published 6601/6601/rest split: thirds instead (small runs).
        config["split"] = {"train": 0.34, "valid": 0.33}
    return config


def validate_config(config: dict) -> dict:
    """Check against the pipeline's schema (as Snakemake does); returns it with defaults."""
    import copy

    from snakemake.utils import validate

    checked = copy.deepcopy(config)
    validate(checked, str(SCHEMA))
    return checked


# --------------------------------------------------------------------------- generation


def generate(args: argparse.Namespace) -> Path:
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    options = ("genome", "seed", "chunk", "level", "compressor", "threads")
    compressor = write_cell(
        work,
        args.cell,
        args.genes,
        args.reads,
        args.marks,
        **{k: getattr(args, k) for k in options},
    )
    n_reads = int(round(args.reads * 1e6))

    config = rehearsal_config(work, args.cell, args.genes)
    config_path = work / CONFIG_NAME
    config_path.write_text(
        "# Written by benchmarks/rehearsal.py: config/remc.yaml for one simulated cell type.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    validate_config(yaml.safe_load(config_path.read_text()))
    total = time.perf_counter() - begin
    print(
        f"\ngenerated {len(args.marks)} x {n_reads / 1e6:g} M reads in {total:.1f} s "
        f"({total / max(len(args.marks) * n_reads / 1e6, 1e-9):.2f} s per M reads overall, "
        f"compressor {compressor} level {args.level}); peak RSS "
        f"{peak_rss_mib(resource.RUSAGE_SELF):,.0f} MiB (this process)"
    )
    print(f"config: {config_path} (validated against {SCHEMA.relative_to(REPO)})")
    print("\nrun the rehearsal from the repository root:")
    print(f"  cd {REPO} && snakemake --cores 2 --configfile {config_path}")
    print(f"then: python benchmarks/rehearsal.py --report {work}")
    return config_path


# --------------------------------------------------------------------------- report


BENCHMARK_COLUMNS = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in",
                     "io_out", "mean_load", "cpu_time"]  # fmt: skip
#: Jobs per rule in the full REMC run (56 cell types x 5 marks; 3 baselines): see
#: tests/workflow/test_workflow.py::test_remc_dry_run_plans_the_whole_paper.
REMC_CELLS = 56


def full_run_jobs(config: dict) -> dict[str, int]:
    """Jobs per rule of the full run (the rules with a benchmark file)."""
    marks = len(config.get("marks", MARKS))
    baselines = len([m for m in config.get("models", []) if m != "attentivechrome"])
    jobs = {
        "reads_to_bam": REMC_CELLS * marks,
        "bins_count": REMC_CELLS,
        "train_attentivechrome": REMC_CELLS,
        "train_baseline": REMC_CELLS * baselines,
        "plot_saliency": REMC_CELLS,
    }
    if config["tracks"]["enabled"]:
        jobs |= {"bam_coverage": REMC_CELLS * marks, "tracks_attention": REMC_CELLS}
    if config["qc"]["enabled"]:
        jobs["qc_multiqc"] = 1
    return jobs


#: The stages of the per-stage table, in pipeline order: (stage, rule).
STAGES = (
    ("conversion", "reads_to_bam"),
    ("counting", "bins_count"),
    ("AttentiveChrome", "train_attentivechrome"),
    ("baselines", "train_baseline"),
    ("saliency", "plot_saliency"),
    ("coverage tracks", "bam_coverage"),
    ("attention tracks", "tracks_attention"),
    ("MultiQC report", "qc_multiqc"),
)


def stage_table(jobs: pd.DataFrame, full_jobs: dict[str, int], cores: int = 2) -> list[str]:
    """Core-hours of the full run per stage (each baseline model its own row): mean wall
    seconds per job x the rule's threads x jobs, and hours on `cores` cores."""
    rows = []
    for stage, rule in STAGES:
        measured = jobs[jobs["rule"] == rule]
        if measured.empty or rule not in full_jobs:
            continue
        if rule == "train_baseline":  # one row per model: train/<cell>/<model>-seed<n>
            models = measured["job"].str.extract(r"/([^/]+)-seed\d+$")[0]
            groups = list(measured.groupby(models, sort=False))
            count = REMC_CELLS  # each model once per cell type
        else:
            groups, count = [(stage, measured)], full_jobs[rule]
        for name, part in groups:
            threads = min(int(part["threads"].iloc[0]), cores)
            core_hours = part["s"].mean() * threads * count / 3600
            rows.append((name, count, part["s"].mean(), threads, core_hours))
    total = sum(row[4] for row in rows)
    out = [
        f"| stage | jobs | wall s per job | threads | core-hours | {cores} cores |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| {name} | {count} | {s:,.1f} | {threads} | {hours:,.2f} | {hours / cores:,.2f} h |"
        for name, count, s, threads, hours in rows
    ]
    out.append(f"| **all measured** | | | | **{total:,.2f}** | **{total / cores:,.2f} h** |")
    return out


#: Cores the dry run offers: enough that no rule's threads are cut down to fit.
PLANNING_CORES = 1024
#: The job listing of `snakemake --dry-run`: a `rule NAME:` line, then indented fields.
JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")
JOB_FIELD = re.compile(r"^\s+(benchmark|threads|resources): (.*)$")


def default_resources(profile: Path = SLURM_PROFILE) -> list[str]:
    """The Slurm profile's default mem_mb and runtime, as `--default-resources` arguments."""
    defaults = yaml.safe_load(profile.read_text()).get("default-resources", {})
    return [f"{key}={defaults[key]}" for key in ("mem_mb", "runtime") if key in defaults]


def dry_run(config_file: Path) -> str:
    """Snakemake's listing of every job `config_file` plans (all forced, none run)."""
    command = [sys.executable, "-m", "snakemake", "--dry-run", "--forceall", "--nolock"]
    command += ["--cores", str(PLANNING_CORES), "--configfile", str(config_file)]
    command += ["--default-resources", *default_resources()]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"snakemake dry run failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def planned_requests(listing: str, benchmarks: str) -> dict[str, dict]:
    """Benchmark file (under `benchmarks`) -> rule, mem_mb, runtime and threads, at attempt 1.

    Read from a dry run's job listing: its `benchmark:`, `threads:` (absent when 1) and
    `resources:` lines."""
    planned: dict[str, dict] = {}
    job: dict | None = None
    for line in listing.splitlines():
        if header := JOB_HEADER.match(line):
            job = {"rule": header[1], "threads": 1}
        elif job is not None and (field := JOB_FIELD.match(line)):
            key, value = field[1], field[2].strip()
            if key == "benchmark":
                planned[Path(value).relative_to(benchmarks).as_posix()] = job
            elif key == "threads":
                job["threads"] = int(value)
            else:
                pairs = (item.split("=", 1) for item in value.split(", "))
                asked = {name: number for name, number in pairs if name in ("mem_mb", "runtime")}
                job.update({name: float(number) for name, number in asked.items()})
    return planned


def read_benchmarks(results: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((results / "benchmarks").glob("**/*.tsv")):
        table = pd.read_csv(path, sep="\t")
        missing = {"s", "max_rss"} - set(table.columns)
        if missing or table.empty:
            print(f"skipping {path}: no {', '.join(sorted(missing)) or 'rows'}", file=sys.stderr)
            continue
        row = table.iloc[-1]  # repeated benchmarks: the last repeat
        rel = path.relative_to(results / "benchmarks").as_posix()
        cpu = float(row["cpu_time"]) if "cpu_time" in table else float("nan")
        rows.append({"file": rel, "s": float(row["s"]), "max_rss": row["max_rss"], "cpu": cpu})
    frame = pd.DataFrame(rows, columns=["file", "s", "max_rss", "cpu"])
    frame["max_rss"] = pd.to_numeric(frame["max_rss"], errors="coerce")  # "-" when unknown
    return frame


def load_report_config(path: Path) -> tuple[dict, Path, Path]:
    """The rehearsal's config (defaults filled), its file and the results folder, from a
    workdir or a results folder (then config/remc.yaml stands in for the config)."""
    config_file = path / CONFIG_NAME
    if config_file.is_file():
        config = validate_config(yaml.safe_load(config_file.read_text()))
        return config, config_file, Path(config["results"])
    config = validate_config(yaml.safe_load(REMC_CONFIG.read_text()))
    return config, REMC_CONFIG, path


def projection(jobs: pd.DataFrame, full_jobs: dict[str, int], cores: int) -> float:
    """Hours on `cores` cores: total core-seconds / cores, at least the longest cell's chain."""
    per_rule = jobs.groupby("rule").agg(s=("s", "mean"), threads=("threads", "first"))
    core_seconds = sum(
        per_rule.at[r, "s"] * min(per_rule.at[r, "threads"], cores) * n
        for r, n in full_jobs.items()
        if r in per_rule.index
    )
    # One cell type's jobs in order: its BAMs side by side, counting, the slowest training.
    chain = 0.0
    if "reads_to_bam" in per_rule.index:
        chain += per_rule.at["reads_to_bam", "s"]
    for rule in ("bins_count", "plot_saliency"):
        chain += per_rule.at[rule, "s"] if rule in per_rule.index else 0.0
    trains = [
        per_rule.at[r, "s"]
        for r in ("train_attentivechrome", "train_baseline")
        if r in per_rule.index
    ]
    chain += max(trains, default=0.0)
    return max(core_seconds / cores, chain) / 3600


def report(path: Path, cores: tuple[int, ...] = (2, 16, 64)) -> str:
    config, config_file, results = load_report_config(Path(path))
    bench = read_benchmarks(results)
    if bench.empty:
        raise SystemExit(f"no benchmark files under {results}/benchmarks")
    planned = planned_requests(dry_run(config_file), f"{config['results']}/benchmarks")
    rows = []
    for record in bench.itertuples():
        asked = planned.get(record.file, {})
        rule = asked.get("rule", "?")
        rows.append(
            {
                "rule": rule,
                "job": record.file.removesuffix(".tsv"),
                "s": record.s,
                "rss": record.max_rss,
                "cpu": record.cpu,
                "mem_mb": asked.get("mem_mb", float("nan")),
                "runtime": asked.get("runtime", float("nan")),
                "threads": asked.get("threads", 1),
            }
        )
    jobs = pd.DataFrame(rows)
    out = [
        f"Benchmarks of {results} ({len(jobs)} jobs)",
        "",
        "| rule | job | wall s | peak RSS MB | mem_mb asked | runtime asked (min) | threads "
        "| note |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in jobs.itertuples():
        notes = []
        if r.rss > r.mem_mb:
            notes.append("RSS above mem_mb")
        if r.s > 60 * r.runtime:
            notes.append("over runtime")
        rss = "-" if pd.isna(r.rss) else f"{r.rss:,.0f}"
        out.append(
            f"| {r.rule} | {r.job} | {r.s:,.1f} | {rss} | {r.mem_mb:,.0f} | {r.runtime:,.0f} "
            f"| {r.threads} | {', '.join(notes)} |"
        )
    full_jobs = full_run_jobs(config)
    out += [
        "",
        f"Projection of the full REMC run ({REMC_CELLS} cell types, "
        f"{full_jobs['reads_to_bam']} tagAlign files):",
        "",
        "| cores | hours |",
        "|---:|---:|",
    ]
    out += [f"| {c} | {projection(jobs, full_jobs, c):,.1f} |" for c in cores]
    out += ["", "Per stage (core-hours: mean wall seconds per job x threads x jobs):", ""]
    out += stage_table(jobs, full_jobs)
    measured = sorted(set(jobs["rule"]) - {"?"})
    unmeasured = sorted(set(full_jobs) - set(measured))
    out += [
        "",
        "Assumptions: every cell type's jobs take as long as this rehearsal's (mean per rule; "
        "real files hold 20-60 M reads, so BAM and counting times vary with depth); jobs per "
        "rule: " + ", ".join(f"{r} {n}" for r, n in full_jobs.items()) + "; each job holds "
        "its rule's threads (the threads column) and jobs pack perfectly onto the cores "
        "(hours = sum of job time x threads / cores, at least one cell type's chain of jobs); "
        "no slowdown from sharing disk or memory bandwidth; enough memory for the jobs "
        "running at once (the mem_mb column); downloads (about 300 GB, at the portal's "
        "speed, at most 4 at a time), the reference jobs, datasets_build, plots other "
        "than saliency and the summary are excluded (no benchmark file, or seconds).",
    ]
    if unmeasured:
        out.append("Not measured here, so left out: " + ", ".join(unmeasured) + ".")
    return "\n".join(out)


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", nargs="?", help="folder for the generated files")
    parser.add_argument("--report", metavar="DIR", help="rehearsal workdir or results folder")
    parser.add_argument("--reads", type=float, default=30.0, help="million reads per mark")
    parser.add_argument("--genes", type=int, default=19_800)
    parser.add_argument("--cell", default="E003", help="cell type id (an RPKM column)")
    parser.add_argument("--marks", nargs="+", default=list(MARKS), choices=MARKS)
    parser.add_argument("--genome", default="hg19", help="'hg19' or a chromosome sizes file")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument(
        "--chunk", type=float, default=8.0, help="million reads generated (and sorted) at once"
    )
    parser.add_argument("--level", type=int, default=1, choices=range(1, 10), help="gzip level")
    parser.add_argument(
        "--compressor",
        default="auto",
        choices=["auto", "zlib", "pigz", "bgzip"],
        help="auto: pigz if installed, else zlib in a thread (bgzip writes BGZF, also gzip)",
    )
    parser.add_argument("--threads", type=int, default=2, help="pigz/bgzip threads")
    args = parser.parse_args(argv)
    if not args.report and not args.workdir:
        parser.error("give a workdir to generate into, or --report DIR")
    if args.genes < 10 or args.reads <= 0:
        parser.error("--genes must be at least 10 and --reads positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(report(Path(args.report)))
        return 0
    generate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
