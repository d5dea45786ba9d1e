# AttentiveChrome: Roadmap Epigenomics reads -> one trained, evaluated and interpretable
# model per cell type. Results, under config["results"] (default `results/`):
#   downloads/            fetched inputs (raw tagAlign files are temporary by default)
#   reference/            chromosome sizes, the kept genes with TSS and split, bins BED
#   bam/{cell}-{mark}.bam sorted, indexed reads (kept for genome browsers)
#   {cell}/data/          train/valid/test in the authors' CSV layout (+ .npz copies)
#   {cell}/{model}/seed{seed}/  one trained model: model.pt, metrics.json, history.tsv,
#                         test_predictions.tsv (+ attention.npz for AttentiveChrome)
#   {cell}/plots/         attention profiles, ROC/PR, training curve, saliency
#   {cell}/genes/{gene}.png  one gene's inputs and attention, on demand
#   summary.tsv, plots/   test AUROC of every model and cell type (mean and sd over seeds),
#                         mark attention heatmap
#   comparison.tsv        every pair of models across cell types (wins, interval, Wilcoxon)
#   logs/, benchmarks/    one log and timing file per job
#   config.resolved.yaml  the configuration the latest run used, defaults filled in
#
# Configuration: config/config.yaml (the embedded demo) unless config files are named on
# the command line; then those files alone, layered in order, plus the schema's defaults,
# so that no demo value leaks into a configuration that leaves a key out.


if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/reads.smk"
include: "workflow/rules/counts.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/report.smk"


# Cheap jobs that read many small files: not worth a cluster job each.
localrules:
    all,
    summary,
    plot_summary,
    compare_models,


rule all:
    input:
        f"{RESULTS}/summary.tsv",
        f"{RESULTS}/comparison.tsv",
        report_figures(),
