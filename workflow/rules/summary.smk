rule summary:
    """One row per cell type: the test metrics of every model side by side."""
    input:
        **all_metrics(),
        # Its warnings are repeated in the summary's log (no counts with authors_data).
        **({} if AUTHORS_DATA else {"depth": rules.read_depth.output[0]}),
    output:
        f"{RESULTS}/summary.tsv",
    log:
        f"{LOGS}/summary.log",
    localrule: True
    conda:
        "../../envs/attentivechrome.yaml"
    script:
        "../scripts/summary.py"


rule compare_models:
    """Every pair of models across cell types: wins, mean difference, bootstrap interval,
    Wilcoxon p-value and differences beyond the seed spread, with the pairwise figure.
    """
    input:
        summary=rules.summary.output[0],
    output:
        table=f"{RESULTS}/comparison.tsv",
        html=report(
            f"{PLOTS}/comparison.html",
            caption="../report/comparison.rst",
            category="Summary",
            labels={"figure": "paired comparison of models"},
        ),
        figure=report(
            f"{PLOTS}/model_pairs.png",
            caption="../report/model_pairs.rst",
            category="Summary",
            labels={"figure": "AttentiveChrome against each model"},
        ),
    log:
        f"{LOGS}/compare_models.log",
    localrule: True
    conda:
        "../../envs/attentivechrome.yaml"
    script:
        "../scripts/compare_models.py"
