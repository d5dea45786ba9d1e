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
    # The fast writer uses 1.3 cores with 2 threads (bgzip's), but two 1-thread jobs side by
    # side convert 1.6x more reads per second on 2 cores; bedtobam and sort want 2 threads.
    threads: 1 if config["bam_writer"] == "fast" else 2
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
    params:
        source=tagalign_source,
        bam_writer=config["bam_writer"],
    script:
        "../scripts/tagalign_to_bam.py"
