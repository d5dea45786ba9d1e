rule reads_to_bam:
    """One replicate's reads -> sorted BAM with its own index in results/bam/{cell}/: text
    converted, a local sorted BAM linked (read where it is), any other BAM sorted."""
    input:
        reads=reads_input,
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        bam=f"{RESULTS}/bam/{{cell}}/{{reads}}.bam",
        bai=f"{RESULTS}/bam/{{cell}}/{{reads}}.bam.bai",
        # What the conversion dropped, for the QC report (report.qc).
        stats=f"{RESULTS}/qc/conversion/{{cell}}/{{reads}}.json",
    log:
        f"{LOGS}/bam/{{cell}}/{{reads}}.log",
    benchmark:
        f"{BENCHMARKS}/bam/{{cell}}/{{reads}}.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    # The fast writer uses 1.3 cores with 2 threads (bgzip's), but two 1-thread jobs side by
    # side convert 1.6x more reads per second on 2 cores; bedtobam and sort want 2 threads.
    threads: 1 if config["bam_writer"] == "fast" else 2
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
    params:
        source=reads_source,
        kind=lambda wildcards: replicate(wildcards).kind,
        link=lambda wildcards: replicate(wildcards).is_local,
        sha256=lambda wildcards: local_sha256(replicate(wildcards).source_name()),
        bam_writer=config["bam_writer"],
    script:
        "../scripts/reads_to_bam.py"
