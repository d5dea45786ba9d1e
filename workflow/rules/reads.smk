rule reads_to_bam:
    """One replicate's reads -> sorted, indexed BAM: text converted, a BAM sorted as it is."""
    input:
        reads=reads_input,
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        bam=f"{RESULTS}/bam/{{reads}}.bam",
        bai=f"{RESULTS}/bam/{{reads}}.bam.bai",
    log:
        f"{LOGS}/bam/{{reads}}.log",
    benchmark:
        f"{BENCHMARKS}/bam/{{reads}}.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    # The fast writer uses 1.3 cores with 2 threads (bgzip's), but two 1-thread jobs side by
    # side convert 1.6x more reads per second on 2 cores; bedtobam and sort want 2 threads.
    threads: 1 if config["bam_writer"] == "fast" else 2
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
    params:
        source=reads_source,
        kind=lambda wildcards: READS_BY_NAME[wildcards.reads].kind,
        bam_writer=config["bam_writer"],
    script:
        "../scripts/reads_to_bam.py"
