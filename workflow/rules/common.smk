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
from attentivechrome.learn.model_facts import MODEL_LABELS
from attentivechrome.tracks.catalogue import predicted_label, seeds_label

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
# classification or regression (src/attentivechrome/task.py).
TASK = config["task"]
if TASK == "regression" and AUTHORS_DATA:
    raise InputError(
        None,
        "task: regression needs each gene's expression, which the authors' processed "
        "matrices (authors_data) do not hold (only labels): give sources instead",
    )
DATASET_FILES = expand(
    f"{RESULTS}/{{cell}}/data/{{split}}.{{ext}}",
    split=SPLITS,
    ext=["csv", "npz"],
    allow_missing=True,
)


# Samples to score with trained or pretrained models (the predict and pretrained keys).
PREDICT = config.get("predict", {})
PRETRAINED = config.get("pretrained", {})
# The samples predicted from reads (the others from a matrix in the authors' CSV layout).
PREDICT_FROM_READS = [name for name, entry in PREDICT.items() if "csv" not in entry]


def read_sources():
    """The reads of every cell type and mark: the sample sheet, or the tagAlign pattern;
    of the cell types to train and of the samples to predict from reads."""
    if "samples" in config and "tagalign" in SOURCES:
        raise InputError(
            None,
            "the config names both a sample sheet (samples) and a tagAlign pattern "
            "(sources.tagalign): give one",
        )
    if "samples" in config:
        selection = config.get("cell_types")
        if selection is not None:
            selection = list(dict.fromkeys(selection + PREDICT_FROM_READS))
        return read_sample_sheet(config["samples"], selection, config.get("marks"))
    if "cell_types" not in config:
        raise InputError(None, "cell_types is needed unless a sample sheet names them")
    if "tagalign" not in SOURCES and not AUTHORS_DATA:
        raise InputError(
            None, "no reads: give a sample sheet (samples) or sources.tagalign"
        )
    pattern = SOURCES.get("tagalign", "{cell}-{mark}")
    cells = list(dict.fromkeys(config["cell_types"] + PREDICT_FROM_READS))
    return reads_from_pattern(pattern, cells, config.get("marks", CORE_MARKS))


READS = read_sources()
for warning in READS.warnings:
    logger.warning(f"Warning: {warning}")
if "samples" in config:
    validate(READS.table(), schema="../schemas/samples.schema.yaml")
MARKS = list(READS.marks)
# Cell types with reads (counted), and those trained: a sample under `predict` is trained
# only when cell_types names it too (then it has expression to learn from).
READ_CELLS = list(READS.cells)
CELLS = [
    cell
    for cell in READ_CELLS
    if cell in config.get("cell_types", []) or cell not in PREDICT
]
if AUTHORS_DATA and PREDICT_FROM_READS:
    # Said at the start of every run; the other predictions (csv) are made.
    logger.warning(
        f"Warning: predict: {', '.join(PREDICT_FROM_READS)} not predicted: they need reads, "
        "which authors_data runs do not read (give each a csv in the authors' layout)"
    )
    PREDICT = {name: entry for name, entry in PREDICT.items() if "csv" in entry}
    PREDICT_FROM_READS = []
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


def _suffixed(name, source):
    """A source name keeping the source's file suffix (.pt, .zip, .csv, .gz)."""
    suffixes = "".join(Path(source.split("?")[0]).suffixes[-2:])
    return name + suffixes


# Model bundles by name, and the samples given as a matrix in the authors' CSV layout.
PRETRAINED_NAMES = {
    name: _suffixed(f"pretrained/{name}", source) for name, source in PRETRAINED.items()
}
PREDICT_CSV_NAMES = {
    name: _suffixed(f"predict/{name}", entry["csv"])
    for name, entry in PREDICT.items()
    if "csv" in entry
}
SOURCE_NAMES.update({PRETRAINED_NAMES[name]: PRETRAINED[name] for name in PRETRAINED})
SOURCE_NAMES.update(
    {PREDICT_CSV_NAMES[name]: PREDICT[name]["csv"] for name in PREDICT_CSV_NAMES}
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
    cell="|".join(re.escape(c) for c in READ_CELLS),
    # Any model kind: a pretrained bundle's need not be trained in this run.
    model="|".join(re.escape(m) for m in MODEL_LABELS),
    sample="|".join(re.escape(name) for name in PREDICT) or "no-sample",
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
    """A cell type's split files, and the gene table that names predictions.tsv's genes
    (none with authors_data)."""
    files = {s: f"{RESULTS}/{wildcards.cell}/data/{s}.npz" for s in SPLITS}
    if not AUTHORS_DATA:
        files["genes"] = f"{RESULTS}/reference/genes.tsv"
    return files


def train_params():
    """Training settings for every model; threads come from the rule, not from here.
    The rule script takes `allocator` out before calling the training function."""
    skip = ("threads", "seeds")  # the seed comes from the job's wildcard
    params = {key: value for key, value in config["train"].items() if key not in skip}
    params["early_stopping_patience"] = params.pop("early_stopping") or None
    params["task"] = TASK
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
    per_cell += list(regression_figures())
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


def regression_figures():
    """The figures of plot_cell that only regression draws, by output name."""
    if TASK != "regression":
        return {}
    return {
        "predicted_observed": report(
            f"{RESULTS}/{{cell}}/plots/predicted_observed.png",
            caption="../report/predicted_observed.rst",
            category="Cell types",
            subcategory="{cell}",
            labels={"cell": "{cell}", "figure": "predicted against observed level"},
        )
    }


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


def counts_of(cell):
    """A cell type's reads per bin (bins_count's output)."""
    return f"{RESULTS}/{cell}/counts.npz"


def bundle_of(cell, model, seed):
    """The bundle of one trained run."""
    return f"{RESULTS}/bundles/{cell}/{model}-seed{seed}.zip"


def all_bundles():
    """A bundle of every trained run, when config bundles is on."""
    if not config["bundles"]:
        return []
    return [bundle_of(c, m, s) for c in CELLS for m in MODELS for s in SEEDS]


def prediction_model(sample):
    """The model kind a sample is predicted with (predict.{sample}.architecture)."""
    return PREDICT[sample]["architecture"]


def prediction_members(sample):
    """(bundle file, name for messages) of every member of a sample's ensemble: the
    bundles of trained cell types (each configured seed) and pretrained ones, by name.
    """
    entry = PREDICT[sample]
    sources = entry["model"] if isinstance(entry["model"], list) else [entry["model"]]
    model = prediction_model(sample)
    members = []
    for source in sources:
        if source in PRETRAINED:
            members.append((source_file(PRETRAINED_NAMES[source]), PRETRAINED[source]))
        elif source in CELLS:
            if model not in MODELS:
                raise InputError(
                    None,
                    f"predict.{sample}.architecture: {model} is not trained in this run "
                    f"(models: {', '.join(MODELS)})",
                )
            seeds = entry.get("seeds", SEEDS)
            unknown = [seed for seed in seeds if seed not in SEEDS]
            if unknown:
                raise InputError(
                    None,
                    f"predict.{sample}.seeds: {', '.join(map(str, unknown))} not among "
                    f"train.seeds ({', '.join(map(str, SEEDS))})",
                )
            members += [
                (bundle_of(source, model, seed), f"{source} {model} seed {seed}")
                for seed in seeds
            ]
        else:
            raise InputError(
                None,
                f"predict.{sample}.model: {source} is neither a cell type trained in this "
                f"run ({', '.join(CELLS)}) nor a name under pretrained "
                f"({', '.join(PRETRAINED) or 'none given'})",
            )
    return members


# Checked now, so that a prediction naming no model stops before any job.
for _sample in PREDICT:
    prediction_members(_sample)


def prediction_input(wildcards):
    """What a prediction job reads: the sample's counts or CSV, the bundles, and (when
    the run has them) the gene table and expression table for names and labels."""
    sample = wildcards.sample
    files = {"bundles": [path for path, _ in prediction_members(sample)]}
    if sample in PREDICT_CSV_NAMES:
        files["csv"] = source_file(PREDICT_CSV_NAMES[sample])
    else:
        files["counts"] = counts_of(sample)
    if not AUTHORS_DATA:
        files["genes"] = f"{RESULTS}/reference/genes.tsv"
        files["expression"] = f"{RESULTS}/reference/expression.tsv"
    return files


def prediction_outputs():
    """The predictions of every sample under predict (rule all)."""
    files = []
    for sample in PREDICT:
        stem = f"{RESULTS}/predict/{sample}/{prediction_model(sample)}"
        files += [f"{stem}.tsv", f"{stem}.json", f"{stem}.png"]
        if prediction_model(sample) == "attentivechrome":
            files.append(f"{stem}.attention.npz")
    return files


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
    logger.warning(
        f"Warning: tracks.genome is not set and sources.chrom_sizes ({CHROM_SIZES}) names "
        "no assembly: the tracks are made, but no IGV session or track hub (set "
        "tracks.genome to hg19, hg38, mm10, ... for them)"
    )
# The marks of a cell type with several replicates, by {cell}/{mark}: their BAMs, pooled
# into one track beside each replicate's.
POOLED = {
    f"{cell}/{mark}": [bam_of(reads) for reads in READS.of(cell, mark)]
    for cell in READ_CELLS
    for mark in MARKS
    if len(READS.of(cell, mark)) > 1
}
# Samples under predict scored by AttentiveChrome: their attention and genes are tracks.
PREDICT_TRACKS = [s for s in PREDICT if prediction_model(s) == "attentivechrome"]
# Groups of the session and the hub: the cell types with reads, then samples without.
TRACK_CELLS = READ_CELLS + [s for s in PREDICT_TRACKS if s not in READ_CELLS]


def model_tracks(cell):
    """The attention and genes tracks of a cell type: from its own training runs (the mean
    over the seeds), and from its prediction under `predict`."""
    folders = []
    if cell in CELLS:
        folders.append((cell, seeds_label(SEEDS), False))
    if cell in PREDICT_TRACKS:
        models = PREDICT[cell]["model"]
        models = models if isinstance(models, list) else [models]
        folders.append((f"predict/{cell}", predicted_label(models), True))
    return [
        {
            "label": label,
            "attention": {mark: f"{folder}/attention/{mark}.bw" for mark in MARKS},
            "genes_bed": f"{folder}/predictions.bed",
            "genes_bigbed": f"{folder}/predictions.bb",
            "predicted": predicted,
        }
        for folder, label, predicted in folders
    ]


def track_files(cell):
    """The tracks of one cell type, relative to the tracks folder
    (tracks.catalogue.TrackFiles' fields). A mark with one replicate has one coverage
    track, that replicate's."""
    with_reads = cell in READ_CELLS
    replicates = {
        mark: [
            (reads.stem.removeprefix(f"{mark}."), f"{reads.name}.cpm.bw")
            for reads in READS.of(cell, mark)
        ]
        for mark in MARKS
        if f"{cell}/{mark}" in POOLED
    }
    return {
        "coverage": {mark: f"{cell}/{mark}.cpm.bw" for mark in MARKS if with_reads},
        "replicates": replicates,
        "models": model_tracks(cell),
    }


def track_paths():
    """Every track file of the run, relative to the tracks folder."""
    paths = []
    for cell in TRACK_CELLS:
        files = track_files(cell)
        paths += files["coverage"].values()
        paths += [path for pairs in files["replicates"].values() for _, path in pairs]
        for model in files["models"]:
            paths += [
                *model["attention"].values(),
                model["genes_bed"],
                model["genes_bigbed"],
            ]
    return paths


def coverage_outputs():
    """bam_coverage's outputs: the QC tally always (qc.enabled needs it), the bigWig with
    tracks.enabled."""
    outputs = {"tally": f"{RESULTS}/qc/samples/{{replicate}}.tsv"}
    if TRACKS_ON:
        outputs["bigwig"] = f"{TRACKS}/{{replicate}}.cpm.bw"
    return outputs


def browser_and_qc_outputs():
    """What `rule all` adds with tracks.enabled and qc.enabled."""
    outputs = []
    if TRACKS_ON:
        # The session needs every track; without an assembly to open, the tracks alone.
        tracks = [f"{TRACKS}/{path}" for path in track_paths()]
        outputs += [f"{TRACKS}/igv_session.xml"] if TRACK_GENOME else tracks
    return outputs + ([f"{RESULTS}/qc/multiqc_report.html"] if QC_ON else [])
