# The per-sample QC report (qc.enabled): MultiQC custom content under {results}/qc/, and
# the MultiQC report built from it.


rule qc_samples:
    """Every sample's reads in, kept and dropped by reason and its TSS fraction (flagged
    when far below its mark's), reads per cell type and mark, and the test AUROCs."""
    input:
        tallies=[f"{RESULTS}/qc/samples/{reads.name}.tsv" for reads in READS.reads],
        conversions=[
            f"{RESULTS}/qc/conversion/{reads.name}.json" for reads in READS.reads
        ],
        depth=rules.read_depth.output[0],
        summary=rules.summary.output[0],
    output:
        samples=f"{RESULTS}/qc/samples_mqc.tsv",
        read_fates=f"{RESULTS}/qc/read_fates_mqc.yaml",
        marks=f"{RESULTS}/qc/marks_mqc.tsv",
        training=f"{RESULTS}/qc/training_mqc.tsv",
    log:
        f"{LOGS}/qc/samples.log",
    localrule: True
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        samples=[
            {"cell": reads.cell, "mark": reads.mark, "replicate": reads.stem}
            for reads in READS.reads
        ],
    script:
        "../scripts/qc_samples.py"


rule qc_multiqc:
    """The MultiQC report of the QC custom content."""
    input:
        rules.qc_samples.output,
    output:
        f"{RESULTS}/qc/multiqc_report.html",
    log:
        f"{LOGS}/qc/multiqc.log",
    benchmark:
        f"{BENCHMARKS}/qc/multiqc.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
    script:
        "../scripts/qc_multiqc.py"
