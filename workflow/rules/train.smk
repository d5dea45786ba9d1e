rule train_attentivechrome:
    """Train AttentiveChrome on one cell type; keep the best validation-AUROC epoch."""
    input:
        unpack(split_data),
    output:
        model=f"{RESULTS}/{{cell}}/model.pt",
        metrics=f"{RESULTS}/{{cell}}/metrics.json",
        attention=f"{RESULTS}/{{cell}}/attention.npz",
        history=f"{RESULTS}/{{cell}}/history.tsv",
        predictions=f"{RESULTS}/{{cell}}/test_predictions.tsv",
    log:
        f"{LOGS}/train/{{cell}}-attentivechrome.log",
    benchmark:
        f"{BENCHMARKS}/train/{{cell}}-attentivechrome.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        model="attentivechrome",
        train=train_params(),
    script:
        "../scripts/train.py"


use rule train_attentivechrome as train_baseline with:
    output:
        metrics=f"{RESULTS}/{{cell}}/baselines/{{baseline}}/metrics.json",
        history=f"{RESULTS}/{{cell}}/baselines/{{baseline}}/history.tsv",
        predictions=f"{RESULTS}/{{cell}}/baselines/{{baseline}}/test_predictions.tsv",
    log:
        f"{LOGS}/train/{{cell}}-{{baseline}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{cell}}-{{baseline}}.tsv"
    params:
        model=lambda wildcards: wildcards.baseline,
        train=train_params(),
