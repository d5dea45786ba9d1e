import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import min_version, validate

min_version("9.0")

# The pipeline's package, from this workflow's own src/ (also when Snakemake runs outside
# the venv). workflow.current_basedir is the folder of this file (workflow/rules/) wherever
# the run starts; workflow.basedir would be the folder of the main Snakefile, which is the
# user's own when this workflow is used as a module. A module read from a git host
# (github(...), git(...)) has no src/ on disk: its package must be installed.
if isinstance(workflow.current_basedir, LocalSourceFile):
    sys.path.insert(0, str(Path(str(workflow.current_basedir)).parents[1] / "src"))
try:
    from attentivechrome.config import check_config, write_resolved_config
except ModuleNotFoundError as error:
    if error.name != "attentivechrome":
        raise
    raise WorkflowError(
        f"the pipeline's Python package (attentivechrome) is not importable: the workflow "
        f"at {workflow.current_basedir} has no src/ folder on disk. Install the package of "
        "the same version where Snakemake runs: pip install "
        "'attentivechrome-pipeline @ git+https://github.com/<owner>/<repo>@<tag>'"
    ) from error
from attentivechrome.errors import InputError
from attentivechrome.data import labels
from attentivechrome.data.genome import BUILTIN_GENOMES
from attentivechrome.data.samples import (
    CORE_MARKS,
    is_local,
    local_path,
    read_sample_sheet,
    reads_from_pattern,
)
from attentivechrome.data.windows import bins_per_gene

SCHEMA = "../schemas/config.schema.yaml"
# The first line of a refusal names the key, its value and what is allowed; Snakemake's
# validate (which would print a dump of the schema) then fills in the defaults.
if not workflow.modifier.skip_validation:
    check_config(config, workflow.source_path(SCHEMA))
validate(config, schema=SCHEMA)
# Checks a JSON schema cannot express, made before any job starts.
N_BINS = bins_per_gene(config["window"]["flank"], config["window"]["bin_size"])

RESULTS = config["results"].rstrip("/")
DOWNLOADS = config["downloads"].get("dir", f"{RESULTS}/downloads").rstrip("/")
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
MODELS = ["attentivechrome"] + [m for m in config["models"] if m != "attentivechrome"]
BASELINES = MODELS[1:]
SEEDS = config["train"]["seeds"]
# Figures of single runs (attention, ROC curves, saliency, genes) show the first seed.
FIGURE_SEED = SEEDS[0]
# Where the inputs are; the authors' processed matrices (authors_data) need none of them.
SOURCES = config.get("sources", {})
CHROM_SIZES = SOURCES.get("chrom_sizes")
SPLITS = list(labels.SPLITS)
# The authors' processed matrices, when given, replace download, BAM and counting.
AUTHORS_DATA = config.get("authors_data", "").rstrip("/")
DATASET_FILES = expand(
    f"{RESULTS}/{{cell}}/data/{{split}}.{{ext}}",
    split=SPLITS,
    ext=["csv", "npz"],
    allow_missing=True,
)


def read_sources():
    """The reads of every cell type and mark: the sample sheet, or the tagAlign pattern."""
    if "samples" in config and "tagalign" in SOURCES:
        raise InputError(
            None,
            "the config names both a sample sheet (samples) and a tagAlign pattern "
            "(sources.tagalign): give one",
        )
    if "samples" in config:
        return read_sample_sheet(
            config["samples"], config.get("cell_types"), config.get("marks")
        )
    if "cell_types" not in config:
        raise InputError(None, "cell_types is needed unless a sample sheet names them")
    if "tagalign" not in SOURCES and not AUTHORS_DATA:
        raise InputError(
            None, "no reads: give a sample sheet (samples) or sources.tagalign"
        )
    pattern = SOURCES.get("tagalign", "{cell}-{mark}")
    return reads_from_pattern(
        pattern, config["cell_types"], config.get("marks", CORE_MARKS)
    )


READS = read_sources()
for warning in READS.warnings:
    logger.warning(f"Warning: {warning}")
if "samples" in config:
    validate(READS.table(), schema="../schemas/samples.schema.yaml")
CELLS, MARKS = list(READS.cells), list(READS.marks)
# What they resolved to, for results/config.resolved.yaml.
config["cell_types"], config["marks"] = CELLS, MARKS
# Replicates by name, {cell}/{stem}: each one's BAM is {results}/bam/{name}.bam.
READS_BY_NAME = {reads.name: reads for reads in READS.reads}


def _reference_name(kind, source):
    """Source name of a reference file; gzip keeps its suffix."""
    return f"reference/{kind}" + (".gz" if source.endswith(".gz") else "")


# Every input by its source name: its name under the download folder when it is a URL,
# and its key in sources.sha256. A local file is an input of the job that reads it (so
# that editing it reruns what depends on it); only URLs go through the download rule.
SOURCE_NAMES = {
    reads.source_name(): reads.path for reads in READS.reads if not AUTHORS_DATA
}
EXPRESSION = _reference_name("expression.tsv", SOURCES.get("expression", ""))
GENE_INFO = _reference_name("gene_info.tsv", SOURCES.get("genes", ""))
SOURCE_NAMES.update(
    {
        name: SOURCES[key]
        for name, key in ((EXPRESSION, "expression"), (GENE_INFO, "genes"))
        if key in SOURCES
    }
)
if CHROM_SIZES and CHROM_SIZES not in BUILTIN_GENOMES:
    SOURCE_NAMES["reference/chrom.sizes"] = CHROM_SIZES
DOWNLOAD_SOURCES = {
    name: source for name, source in SOURCE_NAMES.items() if not is_local(source)
}
SHA256 = SOURCES.get("sha256", {})
_unknown_sha256 = sorted(set(SHA256) - set(SOURCE_NAMES))
if _unknown_sha256:
    raise InputError(
        None,
        f"sources.sha256: {', '.join(_unknown_sha256)} names no input of this run "
        f"(inputs are named like {', '.join(list(SOURCE_NAMES)[:3])})",
    )


wildcard_constraints:
    cell="|".join(re.escape(c) for c in CELLS),
    mark="|".join(re.escape(m) for m in MARKS),
    reads="|".join(re.escape(s) for s in {r.stem for r in READS.reads}) or "no-reads",
    split="|".join(SPLITS),
    baseline="|".join(re.escape(b) for b in BASELINES) or "no-baseline",
    seed="|".join(str(seed) for seed in SEEDS),
    name="|".join(re.escape(n) for n in DOWNLOAD_SOURCES) or "no-downloads",


def write_run_config():
    """Write what this run resolved (files layered, defaults filled) for users to read back.

    Snakemake runs only the main Snakefile's `onstart:`, so a Snakefile that uses this
    workflow as a module calls this from its own (`module attentivechrome: ...`, then
    `onstart: attentivechrome.write_run_config()`).
    """
    write_resolved_config(
        config,
        f"{RESULTS}/config.resolved.yaml",
        workflow.configfiles,
        workflow.config_settings.config,
    )


onstart:
    write_run_config()


def downloaded(name):
    return f"{DOWNLOADS}/{name}"


def _is_local_source(name):
    return name in SOURCE_NAMES and is_local(SOURCE_NAMES[name])


def source_file(name):
    """Where a job reads an input: the user's local file itself, or a URL's download
    (also for a source not given, as with authors_data: such a job never runs)."""
    if _is_local_source(name):
        return str(local_path(SOURCE_NAMES[name]))
    return downloaded(name)


def local_sha256(name):
    """The checksum of a local input, checked by the job that reads it (the download rule
    checks a URL's)."""
    return SHA256.get(name) if _is_local_source(name) else None


def local_checks(**inputs):
    """The local ones among a job's inputs (key: source name) with their checksums: the
    job checks them as a download would be (URLs were checked when fetched)."""
    return {
        key: SHA256.get(name) for key, name in inputs.items() if _is_local_source(name)
    }


def raw_chrom_sizes():
    """The sizes the user named: a file, or none for a built-in genome."""
    if CHROM_SIZES in BUILTIN_GENOMES:
        return []
    return source_file("reference/chrom.sizes")


def replicate(wildcards):
    """The replicate of a BAM job ({cell}/{reads}), or an error naming the known ones."""
    name = f"{wildcards.cell}/{wildcards.reads}"
    if name not in READS_BY_NAME:
        raise InputError(
            None,
            f"no reads named {name} (replicates are named {', '.join(list(READS_BY_NAME)[:4])}"
            ", ...)",
        )
    return READS_BY_NAME[name]


def bam_of(reads):
    """The pipeline's BAM of one replicate, with its own index beside it."""
    return f"{RESULTS}/bam/{reads.name}.bam"


def cell_bams(wildcards):
    """The BAMs of one cell type, every replicate, in config mark order."""
    return [bam_of(r) for mark in MARKS for r in READS.of(wildcards.cell, mark)]


def cell_bam_marks(wildcards):
    """The mark of each of cell_bams' BAMs."""
    return [mark for mark in MARKS for _ in READS.of(wildcards.cell, mark)]


def cell_bam_sources(wildcards):
    """The user's file or URL of each of cell_bams' BAMs, for messages about them."""
    return [r.path for mark in MARKS for r in READS.of(wildcards.cell, mark)]


def cell_bam_indexes(wildcards):
    """Their indexes: inputs too, so that a deleted .bai is made again before counting."""
    return [f"{bam}.bai" for bam in cell_bams(wildcards)]


def reads_input(wildcards):
    """The file one BAM job reads: the user's local file, or a URL's download."""
    return source_file(replicate(wildcards).source_name())


def reads_source(wildcards):
    """The user's file or URL of one replicate's reads, for messages about them."""
    return replicate(wildcards).path


def split_data(wildcards):
    return {s: f"{RESULTS}/{wildcards.cell}/data/{s}.npz" for s in SPLITS}


def train_params():
    """Training settings for every model; threads come from the rule, not from here.
    The rule script takes `allocator` out before calling the training function."""
    skip = ("threads", "seeds")  # the seed comes from the job's wildcard
    params = {key: value for key, value in config["train"].items() if key not in skip}
    params["early_stopping_patience"] = params.pop("early_stopping") or None
    return params


def run_folder(model, cell="{cell}", seed="{seed}"):
    """Outputs of one trained model: {results}/{cell}/{model}/seed{seed}/."""
    return f"{RESULTS}/{cell}/{model}/seed{seed}"


def all_metrics():
    """metrics.json of every model, cell type and seed, keyed by model."""
    return {
        model: [
            f"{run_folder(model, cell, seed)}/metrics.json"
            for cell in CELLS
            for seed in SEEDS
        ]
        for model in MODELS
    }


def report_figures():
    """Every figure shown by `snakemake --report`: per cell type, then across cell types."""
    per_cell = ["attention_profile", "mark_attention", "roc_pr", "training", "saliency"]
    figures = expand(
        f"{RESULTS}/{{cell}}/plots/{{name}}.png", cell=CELLS, name=per_cell
    )
    across = [
        "auroc.png",
        "auroc.html",
        "mark_attention_heatmap.png",
        "comparison.html",
        "model_pairs.png",
    ]
    return figures + [f"{PLOTS}/{name}" for name in across]


# Figures: per cell type under {RESULTS}/{cell}/plots/, across cell types here.
PLOTS = f"{RESULTS}/plots"


def model_runs(wildcards):
    """Files of every model of one cell type (AttentiveChrome first), the figure seed."""
    return [
        f"{run_folder(model, wildcards.cell, FIGURE_SEED)}/{name}"
        for model in MODELS
        for name in ("metrics.json", "history.tsv", "test_predictions.tsv")
    ]


def figure_run(name):
    """One output of the figure seed's AttentiveChrome run of a cell type."""
    return f"{run_folder('attentivechrome', seed=FIGURE_SEED)}/{name}"


def cell_table_input():
    """The optional names table, tracked as an input so edits redraw the summary."""
    return config.get("cell_table") or []


def names_pattern(names, fallback):
    """A wildcard constraint matching exactly `names` (`fallback`, matching no file, when
    there are none)."""
    return "|".join(re.escape(name) for name in names) or fallback


# Genome-browser tracks and the QC report: made from reads, so not with authors_data.
TRACKS = f"{RESULTS}/tracks"
TRACKS_ON = config["tracks"]["enabled"] and not AUTHORS_DATA
QC_ON = config["qc"]["enabled"] and not AUTHORS_DATA
TRACK_GENOME = config["tracks"].get("genome") or (
    CHROM_SIZES if CHROM_SIZES in BUILTIN_GENOMES else None
)
if TRACKS_ON and not TRACK_GENOME:
    raise InputError(
        None,
        f"tracks.genome: name the assembly that the IGV session and the track hub open "
        f"(hg19, hg38, mm10, ...: sources.chrom_sizes, {CHROM_SIZES}, names none), or set "
        "tracks.enabled: false",
    )
# The marks of a cell type with several replicates, by {cell}/{mark}: their BAMs, pooled
# into one track beside each replicate's.
POOLED = {
    f"{cell}/{mark}": [bam_of(reads) for reads in READS.of(cell, mark)]
    for cell in CELLS
    for mark in MARKS
    if len(READS.of(cell, mark)) > 1
}


def track_files(cell):
    """The tracks of one cell type, relative to the tracks folder
    (tracks.catalogue.TrackFiles' fields). A mark with one replicate has one coverage
    track, that replicate's."""
    replicates = {
        mark: [
            (reads.stem.removeprefix(f"{mark}."), f"{reads.name}.cpm.bw")
            for reads in READS.of(cell, mark)
        ]
        for mark in MARKS
        if f"{cell}/{mark}" in POOLED
    }
    return {
        "coverage": {mark: f"{cell}/{mark}.cpm.bw" for mark in MARKS},
        "replicates": replicates,
        "attention": {mark: f"{cell}/attention/{mark}.bw" for mark in MARKS},
        "genes_bed": f"{cell}/predictions.bed",
        "genes_bigbed": f"{cell}/predictions.bb",
    }


def track_paths():
    """Every track file of the run, relative to the tracks folder."""
    paths = []
    for cell in CELLS:
        files = track_files(cell)
        paths += files["coverage"].values()
        paths += [path for pairs in files["replicates"].values() for _, path in pairs]
        paths += files["attention"].values()
        paths += [files["genes_bed"], files["genes_bigbed"]]
    return paths


def browser_and_qc_outputs():
    """What `rule all` adds with tracks.enabled and qc.enabled."""
    outputs = [f"{TRACKS}/igv_session.xml"] if TRACKS_ON else []
    return outputs + ([f"{RESULTS}/qc/multiqc_report.html"] if QC_ON else [])
