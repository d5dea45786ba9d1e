if AUTHORS_DATA:

    rule datasets_import:
        """The authors' processed matrices (Zenodo layout), checked and copied in."""
        input:
            expand(
                f"{AUTHORS_DATA}/{{cell}}/classification/{{split}}.csv",
                split=SPLITS,
                allow_missing=True,
            ),
        output:
            DATASET_FILES,
        log:
            f"{LOGS}/datasets/{{cell}}.log",
        conda:
            "../../envs/attentivechrome.yaml"
        params:
            marks=MARKS,
            n_bins=N_BINS,
        script:
            "../scripts/datasets_import.py"

else:

    rule datasets_build:
        """Median-RPKM labels and the shared split, written in the authors' CSV layout
        (for regression, with each gene's log2(expression + 1) in the .npz files).
        """
        input:
            counts=rules.bins_count.output[0],
            genes=rules.reference_genes.output.genes,
            expression=rules.reference_genes.output.expression,
        output:
            DATASET_FILES,
        log:
            f"{LOGS}/datasets/{{cell}}.log",
        conda:
            "../../envs/attentivechrome.yaml"
        params:
            source=SOURCES["expression"],
            task=TASK,
        script:
            "../scripts/datasets_build.py"
