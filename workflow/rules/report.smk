# Figures of the trained models and the pages of `snakemake --report report.html`.
# Per cell type under {RESULTS}/{cell}/plots/, across cell types under {RESULTS}/plots/,
# and on demand one figure per test gene: {RESULTS}/{cell}/genes/{gene}.png.


rule plot_cell:
    """Attention profiles, mark attention, ROC/PR curves and training curves of one cell type
    (for regression also the predicted against the observed levels of every model)."""
    input:
        attention=figure_run("attention.npz"),
        runs=model_runs,
        cell_table=cell_table_input(),
    output:
        **regression_figures(),
        profile=report(
            f"{RESULTS}/{{cell}}/plots/attention_profile.png",
            caption="../report/attention_profile.rst",
            category="Cell types",
            subcategory="{cell}",
            labels={"cell": "{cell}", "figure": "bin attention profile"},
        ),
        marks=report(
            f"{RESULTS}/{{cell}}/plots/mark_attention.png",
            caption="../report/mark_attention.rst",
            category="Cell types",
            subcategory="{cell}",
            labels={"cell": "{cell}", "figure": "mark attention"},
        ),
        curves=report(
            f"{RESULTS}/{{cell}}/plots/roc_pr.png",
            caption="../report/roc_pr.rst",
            category="Cell types",
            subcategory="{cell}",
            labels={"cell": "{cell}", "figure": "ROC and PR curves"},
        ),
        training=report(
            f"{RESULTS}/{{cell}}/plots/training.png",
            caption="../report/training.rst",
            category="Cell types",
            subcategory="{cell}",
            labels={"cell": "{cell}", "figure": "training curves"},
        ),
    log:
        f"{LOGS}/plots/{{cell}}/cell.log",
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        models=MODELS,
        window=config["window"],
    script:
        "../scripts/plot_cell.py"


rule plot_saliency:
    """Input-gradient saliency of every test gene, compared with the model's attention."""
    input:
        model=figure_run("model.pt"),
        test=f"{RESULTS}/{{cell}}/data/test.npz",
        cell_table=cell_table_input(),
    output:
        figure=report(
            f"{RESULTS}/{{cell}}/plots/saliency.png",
            caption="../report/saliency.rst",
            category="Cell types",
            subcategory="{cell}",
            labels={"cell": "{cell}", "figure": "attention vs saliency"},
        ),
        table=f"{RESULTS}/{{cell}}/saliency_agreement.tsv",
    log:
        f"{LOGS}/plots/{{cell}}/saliency.log",
    benchmark:
        f"{BENCHMARKS}/plots/{{cell}}/saliency.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        window=config["window"],
    script:
        "../scripts/plot_saliency.py"


rule plot_gene:
    """On demand: one test gene's counts, bin and mark attention, and saliency."""
    input:
        model=figure_run("model.pt"),
        test=f"{RESULTS}/{{cell}}/data/test.npz",
        predictions=figure_run("test_predictions.tsv"),
        cell_table=cell_table_input(),
    output:
        report(
            f"{RESULTS}/{{cell}}/genes/{{gene}}.png",
            caption="../report/gene.rst",
            category="Genes",
            subcategory="{cell}",
            labels={"cell": "{cell}", "gene": "{gene}"},
        ),
    log:
        f"{LOGS}/plots/{{cell}}/genes/{{gene}}.log",
    wildcard_constraints:
        gene=r"[A-Za-z0-9._-]+",
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        window=config["window"],
    script:
        "../scripts/plot_gene.py"


rule plot_summary:
    """Across cell types: test AUROC of every model against the published means, and the
    mean mark attention per cell type."""
    input:
        summary=rules.summary.output[0],
        attention=[
            f"{run_folder('attentivechrome', cell, FIGURE_SEED)}/attention.npz"
            for cell in CELLS
        ],
        cell_table=cell_table_input(),
    output:
        auroc=report(
            f"{PLOTS}/auroc.png",
            caption="../report/auroc.rst",
            category="Summary",
            labels={"figure": "test AUROC per cell type"},
        ),
        html=report(
            f"{PLOTS}/auroc.html",
            caption="../report/auroc_table.rst",
            category="Summary",
            labels={"figure": "test AUROC table"},
        ),
        table=f"{PLOTS}/auroc.tsv",
        heatmap=report(
            f"{PLOTS}/mark_attention_heatmap.png",
            caption="../report/mark_attention_heatmap.rst",
            category="Summary",
            labels={"figure": "mean mark attention"},
        ),
    log:
        f"{LOGS}/plot_summary.log",
    localrule: True
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        cells=CELLS,
    script:
        "../scripts/plot_summary.py"
