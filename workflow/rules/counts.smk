rule bins_count:
    """Reads per 100-bp bin around every TSS, every mark of one cell type (replicates summed)."""
    input:
        bams=cell_bams,
        bais=cell_bam_indexes,
        genes=rules.reference_genes.output.genes,
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        f"{RESULTS}/{{cell}}/counts.npz",
    log:
        f"{LOGS}/counts/{{cell}}.log",
    benchmark:
        f"{BENCHMARKS}/counts/{{cell}}.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    # multicov counts the BAMs side by side (one process each); the fast counter needs one.
    threads: 5 if config["counter"] == "multicov" else 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        # bedtools multicov takes hours on a real cell type; the fast counter minutes.
        runtime=lambda wildcards, attempt: (
            480 if config["counter"] == "multicov" else 60
        )
        * attempt,
    params:
        marks=cell_bam_marks,
        sources=cell_bam_sources,
        window=config["window"],
        counter=config["counter"],
        read_filter=config["counting"],
    script:
        "../scripts/bins_count.py"


rule read_depth:
    """Reads-in-bins of every cell type and mark against the mark's median: a warning for
    one far below the others (its files or its counting settings are suspect)."""
    input:
        expand(f"{RESULTS}/{{cell}}/counts.npz", cell=CELLS),
    output:
        f"{RESULTS}/qc/depth.tsv",
    log:
        f"{LOGS}/qc/depth.log",
    localrule: True
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        cells=CELLS,
    script:
        "../scripts/read_depth.py"
