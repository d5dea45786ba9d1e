rule tagalign_to_bam:
    """Checked reads -> sorted, indexed BAM (numpy + bgzip, or bedtobam + samtools sort)."""
    input:
        reads=downloaded(TAGALIGN),
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        bam=f"{RESULTS}/bam/{{cell}}-{{mark}}.bam",
        bai=f"{RESULTS}/bam/{{cell}}-{{mark}}.bam.bai",
    log:
        f"{LOGS}/bam/{{cell}}-{{mark}}.log",
    benchmark:
        f"{BENCHMARKS}/bam/{{cell}}-{{mark}}.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
    params:
        source=tagalign_source,
        bam_writer=config["bam_writer"],
    script:
        "../scripts/tagalign_to_bam.py"
