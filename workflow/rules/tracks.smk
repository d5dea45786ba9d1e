# Genome-browser files under {results}/tracks/ (tracks.enabled): per replicate and per
# pooled (cell type, mark) a CPM bigWig, per cell type AttentiveChrome's attention (one
# bigWig per mark) and its predictions (BED9 and bigBed), then an IGV session and a UCSC
# track hub over them, with paths relative to the folder.


rule bam_coverage:
    """One pass over one replicate's BAM: what became of its records and how many fall in
    the TSS windows (the QC report), and its reads per million in bins (its bigWig)."""
    input:
        bam=f"{RESULTS}/bam/{{replicate}}.bam",
        bai=f"{RESULTS}/bam/{{replicate}}.bam.bai",
        genes=rules.reference_genes.output.genes,
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        **coverage_outputs(),
    log:
        f"{LOGS}/tracks/{{replicate}}.log",
    benchmark:
        f"{BENCHMARKS}/tracks/{{replicate}}.tsv"
    wildcard_constraints:
        replicate=names_pattern(READS_BY_NAME, "no-replicate"),
    conda:
        "../../envs/attentivechrome.yaml"
    resources:
        # The bins of the whole genome (hg19 at 50 bp: 62 M) in memory, 8 bytes each.
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        flank=config["window"]["flank"],
        bin_size=config["tracks"]["bin_size"],
        read_filter=config["counting"],
    script:
        "../scripts/bam_coverage.py"


rule tracks_pool:
    """The CPM bigWig of a cell type's mark with replicates: their reads taken together."""
    input:
        bams=lambda wildcards: POOLED[wildcards.pooled],
        bais=lambda wildcards: [f"{bam}.bai" for bam in POOLED[wildcards.pooled]],
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        f"{TRACKS}/{{pooled}}.cpm.bw",
    log:
        f"{LOGS}/tracks/{{pooled}}.pooled.log",
    benchmark:
        f"{BENCHMARKS}/tracks/{{pooled}}.pooled.tsv"
    wildcard_constraints:
        pooled=names_pattern(POOLED, "no-pooled"),
    conda:
        "../../envs/attentivechrome.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        bin_size=config["tracks"]["bin_size"],
        read_filter=config["counting"],
    script:
        "../scripts/tracks_pool.py"


rule tracks_attention:
    """AttentiveChrome's bin attention of one cell type as a bigWig per mark, and its genes
    as BED9 coloured by predicted probability; the mean over the seeds (for a sample under
    predict, tracks_predicted: its prediction)."""
    input:
        predictions=expand(
            f"{run_folder('attentivechrome')}/predictions.tsv",
            seed=SEEDS,
            allow_missing=True,
        ),
        attention=expand(
            f"{run_folder('attentivechrome')}/gene_attention.npz",
            seed=SEEDS,
            allow_missing=True,
        ),
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        bigwigs=expand(
            f"{TRACKS}/{{cell}}/attention/{{mark}}.bw", mark=MARKS, allow_missing=True
        ),
        bed=f"{TRACKS}/{{cell}}/predictions.bed",
        bigbed=f"{TRACKS}/{{cell}}/predictions.bb",
    log:
        f"{LOGS}/tracks/{{cell}}/attention.log",
    benchmark:
        f"{BENCHMARKS}/tracks/{{cell}}/attention.tsv"
    conda:
        "../../envs/attentivechrome.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
    params:
        marks=MARKS,
        flank=config["window"]["flank"],
        bin_size=config["window"]["bin_size"],
    script:
        "../scripts/tracks_attention.py"


use rule tracks_attention as tracks_predicted with:
    input:
        predictions=[f"{RESULTS}/predict/{{sample}}/attentivechrome.tsv"],
        attention=[f"{RESULTS}/predict/{{sample}}/attentivechrome.attention.npz"],
        chrom_sizes=rules.reference_chrom_sizes.output[0],
    output:
        bigwigs=expand(
            f"{TRACKS}/predict/{{sample}}/attention/{{mark}}.bw",
            mark=MARKS,
            allow_missing=True,
        ),
        bed=f"{TRACKS}/predict/{{sample}}/predictions.bed",
        bigbed=f"{TRACKS}/predict/{{sample}}/predictions.bb",
    log:
        f"{LOGS}/predict/{{sample}}/tracks.log",
    benchmark:
        f"{BENCHMARKS}/predict/{{sample}}/tracks.tsv"


rule tracks_session:
    """An IGV session and a UCSC track hub over every track, grouped by cell type."""
    input:
        [f"{TRACKS}/{path}" for path in track_paths()],
    output:
        session=f"{TRACKS}/igv_session.xml",
        hub=f"{TRACKS}/hub.txt",
        genomes=f"{TRACKS}/genomes.txt",
        track_db=f"{TRACKS}/trackDb.txt",
    log:
        f"{LOGS}/tracks_session.log",
    localrule: True
    conda:
        "../../envs/attentivechrome.yaml"
    params:
        files={cell: track_files(cell) for cell in TRACK_CELLS},
        marks=MARKS,
        bin_size=config["tracks"]["bin_size"],
        genome=TRACK_GENOME,
        email=config["tracks"]["hub_email"],
    script:
        "../scripts/tracks_session.py"
