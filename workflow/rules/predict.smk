# Using trained models: each run exported as a bundle, and samples under `predict` scored
# by bundles (this run's, or pretrained ones) into {results}/predict/{sample}/.


rule bundle_export:
    """One trained model as a bundle: its weights and model card in one file."""
    input:
        **{s: f"{RESULTS}/{{cell}}/data/{s}.npz" for s in SPLITS},
        model=f"{run_folder('{model}')}/model.pt",
        metrics=f"{run_folder('{model}')}/metrics.json",
    output:
        f"{RESULTS}/bundles/{{cell}}/{{model}}-seed{{seed}}.zip",
    log:
        f"{LOGS}/bundles/{{cell}}/{{model}}-seed{{seed}}.log",
    localrule: True
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        window=config["window"],
        # The card's configuration: what made the model (not what it is later used for).
        config={k: v for k, v in config.items() if k not in ("predict", "pretrained")},
    script:
        "../scripts/bundle_export.py"


rule predict_cell:
    """Every gene of one sample scored by its configured model or ensemble, with the
    depth scaling it asks for; labels and AUROC when the sample has expression."""
    input:
        unpack(prediction_input),
    output:
        table=f"{RESULTS}/predict/{{sample}}/{{model}}.tsv",
        card=f"{RESULTS}/predict/{{sample}}/{{model}}.json",
        figure=f"{RESULTS}/predict/{{sample}}/{{model}}.png",
    log:
        f"{LOGS}/predict/{{sample}}/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/predict/{{sample}}/{{model}}.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        names=lambda wildcards: [
            name for _, name in prediction_members(wildcards.sample)
        ],
        window=config["window"],
        depth=lambda wildcards: PREDICT[wildcards.sample]["depth"],
    script:
        "../scripts/predict_cell.py"


use rule predict_cell as predict_cell_attention with:
    output:
        table=f"{RESULTS}/predict/{{sample}}/attentivechrome.tsv",
        card=f"{RESULTS}/predict/{{sample}}/attentivechrome.json",
        figure=f"{RESULTS}/predict/{{sample}}/attentivechrome.png",
        attention=f"{RESULTS}/predict/{{sample}}/attentivechrome.attention.npz",
    log:
        f"{LOGS}/predict/{{sample}}/attentivechrome.log",
    benchmark:
        f"{BENCHMARKS}/predict/{{sample}}/attentivechrome.tsv"


ruleorder: predict_cell_attention > predict_cell
