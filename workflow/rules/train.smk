# Training also writes checkpoint.pt after every epoch, left undeclared on purpose: a
# declared output would be deleted when a killed job is rerun, and the resume with it.
rule train_attentivechrome:
    """Train AttentiveChrome on one cell type with one seed; keep the best validation epoch
    and score every gene with it."""
    input:
        unpack(split_data),
    output:
        model=f"{run_folder('attentivechrome')}/model.pt",
        metrics=f"{run_folder('attentivechrome')}/metrics.json",
        attention=f"{run_folder('attentivechrome')}/attention.npz",
        history=f"{run_folder('attentivechrome')}/history.tsv",
        predictions=f"{run_folder('attentivechrome')}/test_predictions.tsv",
        every_gene=f"{run_folder('attentivechrome')}/predictions.tsv",
        gene_attention=f"{run_folder('attentivechrome')}/gene_attention.npz",
    log:
        f"{LOGS}/train/{{cell}}/attentivechrome-seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{cell}}/attentivechrome-seed{{seed}}.tsv"
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
        model=f"{run_folder('{baseline}')}/model.pt",
        metrics=f"{run_folder('{baseline}')}/metrics.json",
        history=f"{run_folder('{baseline}')}/history.tsv",
        predictions=f"{run_folder('{baseline}')}/test_predictions.tsv",
        every_gene=f"{run_folder('{baseline}')}/predictions.tsv",
    log:
        f"{LOGS}/train/{{cell}}/{{baseline}}-seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{cell}}/{{baseline}}-seed{{seed}}.tsv"
    params:
        model=lambda wildcards: wildcards.baseline,
        train=train_params(),
