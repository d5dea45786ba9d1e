rule summary:
    """One row per cell type: the test metrics of every model side by side."""
    input:
        **all_metrics(),
    output:
        f"{RESULTS}/summary.tsv",
    log:
        f"{LOGS}/summary.log",
    conda:
        "../../envs/attentivechrome.yaml"
    script:
        "../scripts/summarize.py"
