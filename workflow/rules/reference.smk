rule reference_chrom_sizes:
    """The genome's chromosome sizes: pybedtools' hg19, or the user's file, validated."""
    input:
        raw_chrom_sizes(),
    output:
        f"{RESULTS}/reference/chrom.sizes",
    log:
        f"{LOGS}/reference/chrom_sizes.log",
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        # A built-in genome's name, or the user's path or URL for messages (a function:
        # a local path is the input itself).
        spec=lambda wildcards: CHROM_SIZES,
        local=local_checks(sizes="reference/chrom.sizes") if raw_chrom_sizes() else {},
    script:
        "../scripts/reference_chrom_sizes.py"


rule reference_genes:
    """Genes in both the annotation (gene_info, GTF or GFF3) and the expression table, with
    TSS, split and the bins BED."""
    input:
        gene_info=source_file(GENE_INFO),
        expression=source_file(EXPRESSION),
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        genes=f"{RESULTS}/reference/genes.tsv",
        expression=f"{RESULTS}/reference/expression.tsv",
        bins=f"{RESULTS}/reference/bins.bed",
    log:
        f"{LOGS}/reference/genes.log",
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        window=config["window"],
        split=config["split"],
        gene_entries=config["gene_entries"],
        sources=SOURCES,
        cells=CELLS,
        local=local_checks(gene_info=GENE_INFO, expression=EXPRESSION),
    script:
        "../scripts/reference_genes.py"
