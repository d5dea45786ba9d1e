"""The shipped own-data demo: in the user-data layouts, with its special records and its
planted signal (its regeneration: test_demos.py)."""

from __future__ import annotations

import collections
import gzip
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from attentivechrome.data.counting import count_fast
from simulate import own_demo

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "own_demo"
SINGLE_END = [f for f in own_demo.READ_FILES if f.kind == "bam"]
PAIRED = next(f for f in own_demo.READ_FILES if f.kind == "paired_bam")
BED = next(f for f in own_demo.READ_FILES if f.kind == "bed")
GTF_COLUMNS = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attrs"]
VERSIONED_GENE = r"ENSG\d{11}\.\d+"
#: Flag bits an unmapped record may carry here: pair bits, but no strand, filter or hit kind.
UNMAPPED_MAY_HAVE = (
    own_demo.UNMAPPED | own_demo.PAIRED | own_demo.FIRST | own_demo.SECOND | own_demo.MATE_REVERSE
)


@pytest.fixture(scope="module")
def sheet() -> pd.DataFrame:
    return pd.read_csv(SHIPPED / own_demo.SAMPLES_NAME, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def fai() -> pd.DataFrame:
    names = ["name", "length", "offset", "line_bases", "line_width"]
    return pd.read_csv(SHIPPED / own_demo.FAI_NAME, sep="\t", header=None, names=names)


@pytest.fixture(scope="module")
def gtf() -> pd.DataFrame:
    """GTF records with their attributes parsed (first value of each key)."""
    table = pd.read_csv(
        SHIPPED / own_demo.GTF_NAME, sep="\t", comment="#", header=None, names=GTF_COLUMNS
    )
    attributes = [dict(re.findall(r'(\w+) "?([^";]*)"?;', text)) for text in table["attrs"]]
    return pd.concat([table, pd.DataFrame(attributes)], axis=1)


@pytest.fixture(scope="module")
def gtf_genes(gtf) -> pd.DataFrame:
    genes = gtf[gtf["feature"] == "gene"].reset_index(drop=True)
    return genes.assign(base_id=genes["gene_id"].str.split(".").str[0])


@pytest.fixture(scope="module")
def expression() -> pd.DataFrame:
    table = pd.read_csv(SHIPPED / own_demo.EXPRESSION_NAME)
    return table.assign(base_id=table["gene_id"].str.split(".").str[0])


def records(read_file) -> list[pysam.AlignedSegment]:
    path = own_demo.read_path(SHIPPED, read_file)
    with pysam.AlignmentFile(str(path), check_sq=False) as bam:
        return list(bam.fetch(until_eof=True))


def header(read_file) -> dict:
    with pysam.AlignmentFile(str(own_demo.read_path(SHIPPED, read_file)), check_sq=False) as bam:
        return bam.header.to_dict()


def is_primary(record: pysam.AlignedSegment) -> bool:
    return not record.flag & (own_demo.SECONDARY | own_demo.SUPPLEMENTARY)


# --------------------------------------------------------------------------- sheet, genome


def test_sample_sheet_rows_replicates_and_formats(sheet):
    text = (SHIPPED / own_demo.SAMPLES_NAME).read_text()
    assert text.splitlines()[0] == "cell\tmark\tpath\tformat"
    assert all(line.count("\t") == 3 for line in text.splitlines())
    assert set(sheet["cell"]) == {"OWN1", "OWN2"}
    assert set(sheet["mark"]) == {"H3K4me3", "H3K27ac", "H3K36me3", "H3K27me3"}
    rows = sheet.groupby(["cell", "mark"]).size()
    assert len(rows) == 8
    assert rows[("OWN1", "H3K27ac")] == 2 and (rows.drop(("OWN1", "H3K27ac")) == 1).all()
    assert (sheet["format"] == "bam").sum() == 1 and set(sheet["format"]) == {"", "bam"}
    explicit = sheet.loc[sheet["format"] == "bam", "path"].item()
    assert explicit.endswith(".bam")
    bed = sheet[sheet["path"].str.endswith(".bed.gz")]
    assert bed[["cell", "mark", "format"]].values.tolist() == [["OWN2", "H3K27me3", ""]]
    for path in sheet["path"]:
        assert not Path(path).is_absolute() and (ROOT / path).is_file(), path


def test_fasta_index_layout(fai):
    assert fai["name"].tolist() == ["chr1", "chr2", "chr3", "chrM", "chrUn_KI270302v1"]
    assert fai.set_index("name").loc["chrM", "length"] == 16_569
    assert fai["length"].iloc[:3].between(1_000_000, 10_000_000).all()
    assert fai["length"].iloc[-1] < 10_000
    assert (fai["line_bases"] == 60).all() and (fai["line_width"] == 61).all()
    # Each sequence starts after the previous one's bases, its newlines and its own header.
    lines = -(-fai["length"] // 60)
    headers = fai["name"].str.len() + 2
    expected = (headers + (fai["length"] + lines).shift(fill_value=0)).cumsum()
    assert fai["offset"].tolist() == expected.tolist()


# --------------------------------------------------------------------------- annotation


def test_gtf_header_and_records(gtf, fai):
    with gzip.open(SHIPPED / own_demo.GTF_NAME, "rt") as handle:
        comments = [line for line in handle if line.startswith("#")]
    assert comments[0].startswith("##description:")
    assert "##provider: GENCODE\n" in comments and "##format: gtf\n" in comments
    assert set(gtf["feature"]) == {"gene", "transcript", "exon"}
    assert set(gtf["strand"]) == {"+", "-"}
    assert gtf["gene_id"].str.fullmatch(VERSIONED_GENE).all()
    assert gtf["transcript_id"].dropna().str.fullmatch(r"ENST\d{11}\.\d+").all()
    assert gtf["exon_id"].dropna().str.fullmatch(r"ENSE\d{11}\.\d+").all()
    assert (gtf["level"].isin(["2", "3"])).all()
    sizes = fai.set_index("name")["length"]
    assert gtf["chrom"].isin(sizes.index).all()
    assert ((gtf["start"] >= 1) & (gtf["start"] <= gtf["end"])).all()
    assert (gtf["end"] <= gtf["chrom"].map(sizes)).all()
    genes = gtf[gtf["feature"] == "gene"]
    order = genes.sort_values(["chrom", "start"], kind="stable")
    assert order.index.equals(genes.index), "genes are not sorted by chromosome and start"


@pytest.mark.slow
def test_every_gene_has_one_transcript_with_one_to_three_exons(gtf):
    gene_rows = np.flatnonzero(gtf["feature"] == "gene")
    for first, last in zip(gene_rows, [*gene_rows[1:], len(gtf)], strict=True):
        block = gtf.iloc[first:last]
        assert block["feature"].tolist()[:2] == ["gene", "transcript"]
        exons = block[block["feature"] == "exon"]
        assert 1 <= len(exons) == len(block) - 2 <= 3
        gene = block.iloc[0]
        assert block["gene_id"].nunique() == 1 and (block["strand"] == gene["strand"]).all()
        assert exons["exon_number"].astype(int).tolist() == list(range(1, len(exons) + 1))
        bounds = (exons["start"].min(), exons["end"].max())
        assert bounds == (gene["start"], gene["end"]) == tuple(block.iloc[1][["start", "end"]])
        ends = exons.sort_values("start")
        assert (ends["start"].iloc[1:].to_numpy() > ends["end"].iloc[:-1].to_numpy()).all()
        # Transcription order: exon 1 holds the TSS.
        tss = gene["start"] if gene["strand"] == "+" else gene["end"]
        assert exons.iloc[0]["start"] <= tss <= exons.iloc[0]["end"]


def test_gene_types(gtf_genes):
    counts = gtf_genes["gene_type"].value_counts()
    assert 1_000 <= counts["protein_coding"] <= 1_200
    assert counts["lncRNA"] >= 50
    for rarer in ("processed_pseudogene", "miRNA", "snRNA", "misc_RNA", "Mt_rRNA"):
        assert counts[rarer] >= 1, rarer
    assert gtf_genes["base_id"].is_unique
    short = gtf_genes[gtf_genes["gene_type"] == "miRNA"]
    assert (short["end"] - short["start"] < 200).all()
    mito = gtf_genes[gtf_genes["chrom"] == "chrM"]
    assert set(mito["gene_name"]) == {"MT-ND1", "MT-RNR2"}


def test_expression_table_layout(expression):
    text = (SHIPPED / own_demo.EXPRESSION_NAME).read_text()
    assert text.splitlines()[0] == "gene_id,gene_name,OWN1,OWN2"
    assert expression["gene_id"].str.fullmatch(VERSIONED_GENE).all()
    assert expression["gene_id"].is_unique and expression["gene_id"].is_monotonic_increasing
    values = expression[list(own_demo.CELLS)]
    assert all(pd.api.types.is_float_dtype(dtype) for dtype in values.dtypes)
    assert (values >= 0).all().all()
    zeros = (values == 0).mean()
    assert ((zeros > 0.05) & (zeros < 0.3)).all()
    assert (abs(values.sum() - 1e6) < 50).all()  # TPM, rounded to 2 decimals


def test_expression_and_annotation_differ_as_real_releases_do(expression, gtf_genes):
    joined = expression.merge(gtf_genes, on="base_id", how="outer", indicator=True)
    sides = joined["_merge"].value_counts()
    assert sides["left_only"] == sum(own_demo.EXPRESSION_ONLY_TYPES.values())  # 4
    gtf_only = sum(own_demo.GTF_ONLY_TYPES.values()) + 1  # + MT-RNR2
    assert sides["right_only"] == gtf_only
    both = joined[joined["_merge"] == "both"]
    changed = both[both["gene_id_x"] != both["gene_id_y"]]
    assert len(changed) == own_demo.OwnDemoConfig().n_version_changes
    assert (changed["gene_type"] == "protein_coding").all()
    assert set(both["gene_type"]) == {"protein_coding", "lncRNA"}
    assert (both["gene_name_x"] == both["gene_name_y"]).all()
    coding = both[(both["gene_type"] == "protein_coding") & (both["chrom"] != "chrM")]
    assert 1_000 <= len(coding) <= 1_200  # about 400 genes per split


# --------------------------------------------------------------------------- BAM records


def special_counts(reads: list[pysam.AlignedSegment]) -> collections.Counter:
    """How many records of each planted kind a BAM holds."""
    counts = collections.Counter()
    for r in reads:
        bits = {
            "duplicate": own_demo.DUPLICATE,
            "qc_fail": own_demo.QC_FAIL,
            "secondary": own_demo.SECONDARY,
            "supplementary": own_demo.SUPPLEMENTARY,
        }
        counts.update(kind for kind, bit in bits.items() if r.flag & bit)
        if r.is_unmapped:
            counts["unmapped_placed" if r.reference_id >= 0 else "unmapped_unplaced"] += 1
            assert r.cigarstring is None and (r.flag & ~UNMAPPED_MAY_HAVE) == 0
        elif is_primary(r):
            counts[f"mapq{r.mapping_quality}"] += 1
        counts[r.cigarstring] += 1
    return counts


@pytest.mark.parametrize("read_file", SINGLE_END, ids=lambda f: f.name)
def test_single_end_bams_hold_the_planted_records(read_file):
    reads = records(read_file)
    counts = special_counts(reads)
    for kind, n in own_demo.SINGLE_END_SPECIALS.items():
        assert counts[kind] == n, kind
    for mapq, n in own_demo.LOW_MAPQ.items():
        assert counts[f"mapq{mapq}"] == n, mapq
    for cigar, n in own_demo.ODD_CIGARS.items():
        assert counts[cigar] == n, cigar
    assert counts["30M20S"] == counts["30H20M"] == own_demo.SINGLE_END_SPECIALS["supplementary"]
    assert 10_000 <= len(reads) <= 30_000
    assert not any(r.flag & own_demo.PAIRED for r in reads)
    mapped_primary = [r for r in reads if is_primary(r) and not r.is_unmapped]
    assert {r.infer_read_length() for r in mapped_primary} == {own_demo.READ_LENGTH}
    # Duplicates sit exactly where another (unflagged) read does.
    places = {
        (r.reference_id, r.reference_start, r.is_reverse)
        for r in reads
        if not r.flag & 0xF00 and not r.is_unmapped
    }
    dups = [r for r in reads if r.is_duplicate]
    assert all((r.reference_id, r.reference_start, r.is_reverse) in places for r in dups)


@pytest.mark.parametrize("read_file", SINGLE_END, ids=lambda f: f.name)
def test_single_end_bams_are_sorted_and_indexed(read_file, fai):
    path = own_demo.read_path(SHIPPED, read_file)
    head = header(read_file)
    assert head["HD"]["SO"] == "coordinate"
    assert [(sq["SN"], sq["LN"]) for sq in head["SQ"]] == list(
        zip(fai["name"], fai["length"], strict=True)
    )
    assert head["RG"][0]["SM"] == read_file.cell and len(head["PG"]) == 1
    reads = records(read_file)
    keys = [(r.reference_id if r.reference_id >= 0 else 99, r.reference_start) for r in reads]
    assert keys == sorted(keys)
    assert reads[-1].reference_id == -1  # unplaced unmapped reads come last
    assert Path(f"{path}.bai").is_file()
    with pysam.AlignmentFile(str(path)) as bam:  # the index answers region queries
        indexed = bam.count("chr2", 1_000_000, 2_000_000)
    by_hand = sum(
        r.reference_name == "chr2"
        and r.reference_start < 2_000_000
        and (r.reference_end or r.reference_start + 1) > 1_000_000
        for r in reads
    )
    assert indexed == by_hand > 0


def test_paired_bam_is_unsorted_unindexed_and_uses_ensembl_names(fai):
    path = own_demo.read_path(SHIPPED, PAIRED)
    assert not Path(f"{path}.bai").exists() and not path.with_suffix(".bai").exists()
    head = header(PAIRED)
    assert head["HD"]["SO"] != "coordinate"
    names = [sq["SN"] for sq in head["SQ"]]
    assert names == ["1", "2", "3", "MT", "KI270302.1"]
    assert [sq["LN"] for sq in head["SQ"]] == fai["length"].tolist()
    reads = records(PAIRED)
    starts = [(r.reference_id, r.reference_start) for r in reads]
    assert starts != sorted(starts)
    used = collections.Counter(r.reference_name for r in reads)
    assert used["1"] > 1_000 and used["MT"] > 0 and "chr1" not in used


def test_paired_bam_holds_the_planted_records():
    reads = records(PAIRED)
    counts = special_counts(reads)
    specials = own_demo.PAIRED_END_SPECIALS
    assert counts["duplicate"] == 2 * specials["duplicate_pairs"]
    assert counts["qc_fail"] == 2 * specials["qc_fail_pairs"]
    assert counts["secondary"] == specials["secondary"]
    assert counts["supplementary"] == specials["supplementary"]
    assert counts["unmapped_placed"] == specials["mate_unmapped_pairs"]
    assert counts["unmapped_unplaced"] == 0
    for mapq, n in own_demo.PAIRED_LOW_MAPQ.items():
        assert counts[f"mapq{mapq}"] == n, mapq
    assert counts["5S45M"] == own_demo.PAIRED_ODD_CIGARS["5S45M"]
    primary = [r for r in reads if is_primary(r)]
    improper = sum(not r.is_proper_pair for r in primary)
    broken = specials["far_pairs"] + specials["interchrom_pairs"] + specials["mate_unmapped_pairs"]
    assert improper == 2 * broken
    different = sum(
        r.is_proper_pair is False and r.next_reference_id != r.reference_id for r in primary
    )
    assert different == 2 * specials["interchrom_pairs"]
    assert 10_000 <= len(reads) <= 30_000


def test_paired_records_are_consistent():
    """Every primary record has its mate, and the two agree on each other's fields."""
    by_name = collections.defaultdict(list)
    reads = records(PAIRED)
    for r in reads:
        if is_primary(r):
            by_name[r.query_name].append(r)
    assert all(len(mates) == 2 for mates in by_name.values())
    for first, second in by_name.values():
        assert first.is_read1 and second.is_read2 and first.is_paired and second.is_paired
        for me, mate in ((first, second), (second, first)):
            assert me.next_reference_id == mate.reference_id
            assert me.next_reference_start == mate.reference_start
            assert me.mate_is_reverse == mate.is_reverse
            assert me.mate_is_unmapped == mate.is_unmapped
        assert first.is_proper_pair == second.is_proper_pair
        assert first.template_length == -second.template_length
        if first.is_proper_pair:
            assert first.is_reverse != second.is_reverse
            assert 100 <= abs(first.template_length) <= 400
    # Aligner order: a name's records are adjacent (mate 1, mate 2, then other hits).
    order = [r.query_name for r in reads]
    assert len(set(order)) == len([n for i, n in enumerate(order) if i == 0 or order[i - 1] != n])


def test_bed_file_layout():
    path = own_demo.read_path(SHIPPED, BED)
    names = ["chrom", "start", "end", "name", "score", "strand"]
    table = pd.read_csv(path, sep="\t", header=None, names=names)
    assert 10_000 <= len(table) <= 30_000
    assert (table["end"] - table["start"] == own_demo.READ_LENGTH).all()
    assert (table["name"] == "N").all() and (table["score"] == 1000).all()
    assert set(table["strand"]) == {"+", "-"}
    assert set(table["chrom"]) == {"chr1", "chr2", "chr3", "chrM", "chrUn_KI270302v1"}
    ordered = table.sort_values(["chrom", "start"], kind="stable")
    assert ordered.index.equals(table.index)
    assert table.duplicated(["chrom", "start", "strand"]).any()


# --------------------------------------------------------------------------- what counting sees


def multicov(bam: Path, bins: pd.DataFrame, folder: Path) -> np.ndarray:
    bed = folder / "bins.bed"
    bins.to_csv(bed, sep="\t", header=False, index=False, columns=["chrom", "start", "end"])
    command = ["bedtools", "multicov", "-bams", str(bam), "-bed", str(bed)]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return np.array([int(line.split("\t")[3]) for line in lines.splitlines()])


def bins_around_special_records(reads: list[pysam.AlignedSegment]) -> pd.DataFrame:
    """100-bp bins tiling every record that is not a plain 50M MAPQ-60 one (spliced ones
    over their whole span), plus bins over a stretch of ordinary reads."""
    starts = set()
    for r in reads:
        if r.reference_id < 0:
            continue
        special = r.flag & 0xF04 or r.mapping_quality < 60 or r.cigarstring != "50M"
        if special or 1_000_000 <= r.reference_start < 1_020_000:
            end = r.reference_end or r.reference_start + 1
            starts.update(
                (r.reference_name, s) for s in range(r.reference_start // 100 * 100, end, 100)
            )
    table = pd.DataFrame(sorted(starts), columns=["chrom", "start"])
    return table.assign(end=table["start"] + 100)


def expected_by_rule(reads: list[pysam.AlignedSegment], bins: pd.DataFrame) -> np.ndarray:
    """Records overlapping a bin by >= 1 bp, except duplicates and QC failures; an unmapped
    record placed at a position covers one base (counting.py's account of multicov)."""
    row = {(c, s): i for i, (c, s) in enumerate(zip(bins["chrom"], bins["start"], strict=True))}
    counts = np.zeros(len(bins), dtype=np.int64)
    for r in reads:
        if r.reference_id < 0 or r.flag & (own_demo.DUPLICATE | own_demo.QC_FAIL):
            continue
        end = r.reference_end or r.reference_start + 1
        for s in range(r.reference_start // 100 * 100, end, 100):
            if (r.reference_name, s) in row:
                counts[row[(r.reference_name, s)]] += 1
    return counts


@pytest.mark.skipif(shutil.which("bedtools") is None, reason="needs bedtools")
@pytest.mark.parametrize("read_file", [*SINGLE_END[:2], PAIRED], ids=lambda f: f.name)
def test_multicov_counts_the_bams_as_documented(read_file, tmp_path):
    bam = own_demo.read_path(SHIPPED, read_file)
    if read_file.kind == "paired_bam":  # multicov needs it sorted and indexed, as the pipeline
        sorted_bam = tmp_path / "sorted.bam"
        pysam.sort("-o", str(sorted_bam), str(bam))
        pysam.index(str(sorted_bam))
        bam = sorted_bam
    reads = records(read_file)
    bins = bins_around_special_records(reads)
    counted = multicov(bam, bins, tmp_path)
    np.testing.assert_array_equal(counted, expected_by_rule(reads, bins))
    np.testing.assert_array_equal(counted, count_fast([bam], bins)[:, 0])
    skipped = sum(bool(r.flag & (own_demo.DUPLICATE | own_demo.QC_FAIL)) for r in reads)
    assert skipped > 0 and counted.sum() > 0


# --------------------------------------------------------------------------- planted signal


@pytest.fixture(scope="module")
def coding(gtf_genes, expression) -> pd.DataFrame:
    """Protein-coding genes on the genic chromosomes with expression: TSS (0-based), strand,
    labels (TPM above the cell's median over all rows), planted programs."""
    genes = gtf_genes[
        (gtf_genes["gene_type"] == "protein_coding") & (gtf_genes["chrom"] != "chrM")
    ].merge(expression, on="base_id")
    genes["sign"] = np.where(genes["strand"] == "+", 1, -1)
    genes["tss"] = np.where(genes["sign"] == 1, genes["start"], genes["end"]) - 1
    for cell in own_demo.CELLS:
        genes[f"label_{cell}"] = (genes[cell] > expression[cell].median()).astype(int)
    planted = own_demo.simulate().planted.set_index("gene_id")
    for cell in own_demo.CELLS:
        genes[f"program_{cell}"] = genes["base_id"].map(planted[cell])
    return genes.sort_values("base_id").reset_index(drop=True)


def stranded_bins(genes: pd.DataFrame, near: int, far: int, rename=lambda c: c) -> pd.DataFrame:
    """From `near` to `far` bp downstream of each TSS (negative = upstream)."""
    a = genes["tss"] + genes["sign"] * near
    b = genes["tss"] + genes["sign"] * far
    return pd.DataFrame(
        {
            "chrom": genes["chrom"].map(rename),
            "start": np.minimum(a, b).clip(0),
            "end": np.maximum(a, b).clip(0),
        }
    )


def window_counts(read_file, genes, near, far) -> np.ndarray:
    rename = own_demo.ensembl_name if read_file.kind == "paired_bam" else (lambda c: c)
    bins = stranded_bins(genes, near, far, rename)
    return count_fast([own_demo.read_path(SHIPPED, read_file)], bins)[:, 0]


@pytest.mark.parametrize("cell", own_demo.CELLS)
def test_programs_follow_the_labels_up_to_the_noise(cell, coding):
    active = coding[f"program_{cell}"] == "active"
    agree = (active == (coding[f"label_{cell}"] == 1)).mean()
    assert 0.85 < agree < 0.95


def test_h3k27ac_follows_h3k4me3_at_lower_depth(coding):
    files = {f.mark: f for f in own_demo.READ_FILES if f.cell == "OWN2"}
    k4 = window_counts(files["H3K4me3"], coding, -1_000, 1_000)
    k27ac = window_counts(files["H3K27ac"], coding, -1_000, 1_000)
    assert np.corrcoef(np.log1p(k4), np.log1p(k27ac))[0, 1] > 0.5
    assert 0.4 < k27ac.mean() / k4.mean() < 0.8


def test_replicates_agree_once_the_chromosome_names_are_mapped(coding):
    rep1, rep2 = (f for f in own_demo.READ_FILES if (f.cell, f.mark) == ("OWN1", "H3K27ac"))
    first = window_counts(rep1, coding, -1_000, 1_000)
    second = window_counts(rep2, coding, -1_000, 1_000)
    assert np.corrcoef(np.log1p(first), np.log1p(second))[0, 1] > 0.6
    # The counter maps 'chr1' bins onto a BAM that says '1' (genome.match_chroms).
    ucsc = count_fast([own_demo.read_path(SHIPPED, rep2)], stranded_bins(coding, -1_000, 1_000))
    np.testing.assert_array_equal(ucsc[:, 0], second)


def test_signal_is_learnable_but_not_trivial(coding):
    """A linear model on per-mark window counts that knows each gene's strand, trained on
    the first third of the ids: it finds most of the signal, not all."""
    cell = "OWN1"
    files = [f for f in own_demo.READ_FILES if f.cell == cell and f.replicate == 1]
    windows = [(-5_000, -1_000), (-1_000, 1_000), (1_000, 5_000)]
    counts = np.column_stack(
        [window_counts(f, coding, near, far) for f in files for near, far in windows]
    )
    label = coding[f"label_{cell}"].to_numpy()
    third = len(coding) // 3
    features = np.log1p(counts)
    model = LogisticRegression(max_iter=2_000).fit(features[:third], label[:third])
    auroc = roc_auc_score(label[2 * third :], model.predict_proba(features[2 * third :])[:, 1])
    assert 0.75 < auroc < 0.95
    assert 0.5 < roc_auc_score(label, counts.sum(axis=1)) < 0.7  # totals say little
