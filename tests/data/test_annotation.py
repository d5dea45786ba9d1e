import gzip
import logging
from pathlib import Path

import pandas as pd
import pytest

from attentivechrome.data.annotation import deduplicate_genes, read_annotation, read_gene_info
from attentivechrome.data.expression import read_expression
from attentivechrome.data.gene_selection import select_genes
from attentivechrome.data.genome import match_chroms
from attentivechrome.errors import InputError
from helpers import demo_reference_genes

DEMO = Path(__file__).resolve().parents[2] / "resources/demo"

GENE_INFO = (
    "ENSG00000000003\tX\t99883667\t99894988\t-1\tprotein_coding\tTSPAN6\tdesc\n"
    "ENSG00000000005\tX\t99839799\t99854882\t1\tprotein_coding\tTNMD\tdesc\n"
    "ENSG00000000419\t20\t49551404\t49575092\t-1\tprotein_coding\tDPM1\tdesc\n"
    "ENSG00000062370\t19\t1000\t2000\t1\tprotein_coding\tZNF112\tdesc\n"
    "ENSG00000062370\t19\t1000\t2000\t1\tprotein_coding\tZNF112b\tdesc\n"
    "ENSG00000198888\tMT\t3307\t4262\t1\tprotein_coding\tMT-ND1\tdesc\n"
)


@pytest.fixture
def gene_info(tmp_path):
    path = tmp_path / "gene_info"
    path.write_text(GENE_INFO)
    return path


def test_gene_info_tss_follows_strand_and_chroms_as_written(gene_info):
    genes = read_gene_info(gene_info).set_index("gene_id")
    assert genes.loc["ENSG00000000003", "tss"] == 99894988  # minus strand: end
    assert genes.loc["ENSG00000000005", "tss"] == 99839799  # plus strand: start
    assert genes.loc["ENSG00000000003", "chrom"] == "X"
    assert genes.loc["ENSG00000198888"].chrom == "MT"  # select_genes spells them as the sizes


def test_duplicated_gene_keeps_first_row(gene_info, caplog):
    caplog.set_level("INFO")
    genes = deduplicate_genes(read_gene_info(gene_info), gene_info)
    assert (genes["gene_id"] == "ENSG00000062370").sum() == 1
    assert genes.set_index("gene_id").loc["ENSG00000062370", "symbol"] == "ZNF112"
    assert "listed 2 times (lines 4, 5)" in caplog.text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ENSG1\t1\t100\t200\t2\tpc\tA\td\n", "strand must be 1 or -1, got '2'"),
        ("ENSG1\t1\tabc\t200\t1\tpc\tA\td\n", "start/end must be integers"),
        ("ENSG1\t1\t100\n", "expected at least 5 tab-separated columns"),
        ("ENSG1 1 100 200 1 pc A d\n", r"found 1 \(its columns are separated by spaces, not"),
    ],
)
def test_gene_info_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad_gene_info"
    path.write_text(GENE_INFO + line)
    with pytest.raises(InputError, match=rf"bad_gene_info, line 7: .*{message}"):
        read_gene_info(path)


def write_matrix(path, rows, cells=("E000", "E003")):
    header = "gene_id\t" + "\t".join(cells) + "\n"
    body = "".join("\t".join(map(str, row)) + "\n" for row in rows)
    with gzip.open(path, "wt") as handle:
        handle.write(header + body)
    return path


def test_expression_reads_gzip_and_selects_cells(tmp_path):
    path = write_matrix(
        tmp_path / "rpkm.gz", [("ENSG00000000003", 1.5, 2.0), ("ENSG00000000005", 0, 3)]
    )
    table = read_expression(path, ["E003"])
    assert list(table.columns) == ["E003"]
    assert table.loc["ENSG00000000005", "E003"] == 3.0


@pytest.mark.parametrize(
    ("rows", "cells", "message"),
    [
        ([("G1", 1, 2)], ["E999"], r"line 1: cell type E999 is not a column of the expression"),
        ([("G1", 1, 2), ("G2", 1, "nan")], None, r"line 3: gene G2, cell type E003: RPKM must be"),
        ([("G1", 1, -2)], None, r"line 2: gene G1, cell type E003: RPKM must be a non-negative"),
        ([("G1", 1, 2), ("G1", 1, 2)], None, r"line 3: gene G1 is listed twice"),
    ],
)
def test_expression_errors(tmp_path, rows, cells, message):
    path = write_matrix(tmp_path / "rpkm.gz", rows)
    with pytest.raises(InputError, match=message):
        read_expression(path, cells)


def test_select_genes_keeps_common_genes_on_genome_sorted(gene_info, tmp_path):
    genes = deduplicate_genes(read_gene_info(gene_info))
    matrix = pd.DataFrame(
        {"E003": [1.0, 2.0, 3.0, 4.0]},
        index=["ENSG00000000419", "ENSG00000000003", "ENSG00000198888", "ENSG00000999999"],
    )
    selection = select_genes(genes, matrix, {"chrX": 155270560, "chr20": 63025520})
    assert list(selection.genes["gene_id"]) == ["ENSG00000000003", "ENSG00000000419"]
    assert selection.dropped["on a chromosome missing from the sizes"] == ["ENSG00000198888"]
    assert selection.dropped["in the expression matrix but not in gene_info"] == ["ENSG00000999999"]
    assert "ENSG00000000005" in selection.dropped["not in the expression matrix"]


def test_many_genes_past_their_chromosome_end_mean_another_assembly(gene_info):
    genes = deduplicate_genes(read_gene_info(gene_info))
    matrix = pd.DataFrame({"E003": 1.0}, index=genes["gene_id"])
    sizes = {"chrX": 99_850_000, "chr20": 63025520, "chr19": 59128983, "chrM": 16571}
    with pytest.raises(InputError, match=r"gene_info: 2 of 5 genes lie past the end.*assemblies"):
        select_genes(genes, matrix, sizes, genes_path="gene_info")


def test_files_sharing_few_ids_are_an_error_with_an_example_of_each(gene_info):
    genes = read_gene_info(gene_info)
    matrix = pd.DataFrame({"E003": [1.0, 2.0]}, index=["GENE_A", "ENSG00000000003"])
    with pytest.raises(
        InputError,
        match=r"rpkm: only 0 of its 1 gene ids .*'GENE_A' here and 'ENSG00000000003' there",
    ):
        select_genes(genes, matrix[:1], {}, expression_path="rpkm")
    assert len(select_genes(genes, matrix, {"chrX": 155270560}).genes) == 1


def test_repeated_column_names_in_any_headed_table_are_an_error(tmp_path):
    from attentivechrome.report.figures import read_cell_table

    path = tmp_path / "cells.tsv"
    path.write_text("id\tname\tname\nE003\tH1\tH1 again\n")
    with pytest.raises(InputError, match=r"cells.tsv, line 1: column name\(s\) name appear"):
        read_cell_table(path)


def records(*rows: str) -> str:
    """GTF/GFF3 text from rows written `chrom source feature start end strand attributes`
    (the score and frame columns, always `.`, are filled in)."""
    lines = []
    for row in rows:
        if row.startswith("#") or row.startswith(">") or row == "ACGT":
            lines.append(row)
            continue
        chrom, source, feature, start, end, strand, attributes = row.split(" ", 6)
        lines.append("\t".join([chrom, source, feature, start, end, ".", strand, ".", attributes]))
    return "\n".join(lines) + "\n"


def gencode(gene_id: str, gene_type: str = "protein_coding", name: str = "", more: str = ""):
    return f'gene_id "{gene_id}"; gene_type "{gene_type}"; gene_name "{name}";{more}'


# GENCODE-style GTF: the genes of GENE_INFO with version suffixes (but for the duplicated
# ENSG00000062370, which gene_info alone lists twice), a transcript and an exon, genes of
# other types and a pseudoautosomal gene with its chrY copy.
GTF = records(
    "##description: evidence-based annotation of the human genome (GRCh37), version 19",
    "##provider: GENCODE",
    "chrX HAVANA gene 99883667 99894988 - " + gencode("ENSG00000000003.10", name="TSPAN6"),
    "chrX HAVANA transcript 99883667 99891803 - "
    + gencode("ENSG00000000003.10", name="TSPAN6", more=' transcript_id "ENST00000373020.4";'),
    "chrX HAVANA exon 99891605 99891803 - "
    + gencode("ENSG00000000003.10", more=' transcript_id "ENST00000373020.4"; exon_number 1;'),
    "chrX HAVANA gene 99839799 99854882 + "
    + gencode("ENSG00000000005.5", name="TNMD", more=' tag "a=b"; tag "second"; level 2;'),
    "chr20 HAVANA gene 49551404 49575092 - " + gencode("ENSG00000000419.8", name="DPM1"),
    "chr1 HAVANA gene 29554 31109 + " + gencode("ENSG00000243485.2", "lncRNA", "MIR1302-11"),
    "chr1 HAVANA gene 11869 14412 + "
    + gencode("ENSG00000223972.4", "transcribed_unprocessed_pseudogene", "DDX11L1"),
    "chrX HAVANA gene 2609220 2611472 + " + gencode("ENSG00000182378.8", name="PLCXD1"),
    "chrY HAVANA gene 2559220 2561472 + " + gencode("ENSG00000182378.8_PAR_Y", name="PLCXD1"),
    "chrM ENSEMBL gene 3307 4262 + " + gencode("ENSG00000198888.2", name="MT-ND1"),
)
SHARED_WITH_GENE_INFO = [
    "ENSG00000000003",
    "ENSG00000000005",
    "ENSG00000000419",
    "ENSG00000198888",
]
COMPARED = ["chrom", "start", "end", "strand", "tss", "symbol"]

# The same genes in GFF3: Ensembl's attributes (ID=gene:..., biotype, ncRNA_gene, an escaped
# `;`), one gene in GENCODE's, one without gene_id, then a FASTA section not to be read.
GFF3 = records(
    "##gff-version 3",
    "#!genome-build GRCh37",
    "X ensembl_havana gene 99883667 99894988 - ID=gene:ENSG00000000003;Name=TSPAN6;"
    "biotype=protein_coding;description=tetraspanin 6 [Source:HGNC Symbol%3BAcc:11858];"
    "gene_id=ENSG00000000003;version=10",
    "X ensembl_havana mRNA 99883667 99891803 - ID=transcript:ENST00000373020;"
    "Parent=gene:ENSG00000000003;biotype=protein_coding",
    "###",
    "chrX HAVANA gene 99839799 99854882 + ID=ENSG00000000005.5;gene_id=ENSG00000000005.5;"
    "gene_type=protein_coding;gene_name=TNMD;level=2",
    "20 ensembl_havana gene 49551404 49575092 - ID=gene:ENSG00000000419;Name=DPM1;"
    "biotype=protein_coding",
    "1 havana ncRNA_gene 29554 31109 + ID=gene:ENSG00000243485;Name=MIR1302-11;biotype=lncRNA;"
    "gene_id=ENSG00000243485",
    "MT ensembl gene 3307 4262 + ID=gene:ENSG00000198888;Name=MT-ND1;biotype=protein_coding;"
    "gene_id=ENSG00000198888",
    "##FASTA",
    ">X",
    "ACGT",
)


def write_text(path, text, gzipped=False):
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    return path


@pytest.mark.parametrize("text", [GTF, GFF3], ids=["gtf", "gff3"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzipped"])
def test_gtf_and_gff3_give_the_gene_info_coordinates_of_the_same_genes(
    gene_info, tmp_path, text, gzipped
):
    # Names say nothing: the format and the compression are told by content.
    path = write_text(tmp_path / "annotation.txt", text, gzipped)
    genes = read_annotation(path)
    assert list(genes.columns) == list(read_gene_info(gene_info).columns)
    assert set(SHARED_WITH_GENE_INFO) <= set(genes["gene_id"])
    ours = genes.set_index("gene_id").loc[SHARED_WITH_GENE_INFO, COMPARED]
    expected = read_gene_info(gene_info).set_index("gene_id").loc[SHARED_WITH_GENE_INFO, COMPARED]
    # GENCODE writes chrX where gene_info writes X: the same chromosome of the sizes.
    hg19 = {"chrX": 1, "chr20": 1, "chrM": 1, "chr19": 1}
    for table in (ours, expected):
        table["chrom"] = table["chrom"].map(match_chroms(table["chrom"], hg19))
    pd.testing.assert_frame_equal(ours, expected, check_dtype=False)
    assert not genes["gene_id"].str.contains(r"\.").any()
    assert "ENSG00000243485" not in set(genes["gene_id"])  # lncRNA: not protein_coding


def test_gtf_genes_are_gene_records_of_the_chosen_types(tmp_path):
    path = write_text(tmp_path / "gencode.gtf", GTF)
    protein_coding = read_annotation(path)
    assert list(protein_coding["line"]) == [3, 6, 7, 10, 11, 12]  # no transcript, no exon
    lncrna = read_annotation(path, ["lncRNA"])
    assert list(lncrna["gene_id"]) == ["ENSG00000243485"]
    assert lncrna["symbol"].item() == "MIR1302-11"
    assert len(read_annotation(path, None)) == 8


def test_gencode_par_y_copy_is_a_duplicate_that_keeps_the_chrx_gene(tmp_path, caplog):
    path = write_text(tmp_path / "gencode.gtf", GTF)
    genes = read_annotation(path)
    assert (genes["gene_id"] == "ENSG00000182378").sum() == 2
    caplog.set_level(logging.INFO)
    kept = deduplicate_genes(genes, path).set_index("gene_id")
    assert kept.loc["ENSG00000182378", "chrom"] == "chrX"
    assert "gene ENSG00000182378 has conflicting rows (lines 10, 11)" in caplog.text


def test_gene_without_a_strand_is_dropped_and_logged(tmp_path, caplog):
    unstranded = GTF.replace(
        '+\t.\tgene_id "ENSG00000000005.5"', '.\t.\tgene_id "ENSG00000000005.5"'
    )
    assert unstranded != GTF
    caplog.set_level(logging.INFO)
    genes = read_annotation(write_text(tmp_path / "gencode.gtf", unstranded))
    assert "ENSG00000000005" not in set(genes["gene_id"])
    assert "1 genes have no strand, so no TSS, and are dropped: ENSG00000000005.5 (line 6)" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("text", "gene_types", "message"),
    [
        (
            "".join(line + "\n" for line in GTF.splitlines() if "\tgene\t" not in line),
            ["protein_coding"],
            r"gencode.gtf: no `gene` records \(column 3\): found 2 records of types "
            r"exon \(1\), transcript \(1\)",
        ),
        (
            GTF,
            ["miRNA"],
            r"gencode.gtf: none of its 8 genes has a type in sources.gene_types \(miRNA\); the "
            r"types present are lncRNA \(1\), protein_coding \(6\), transcribed_unprocessed",
        ),
        (
            GTF.replace('\t-\t.\tgene_id "ENSG00000000419', '\tminus\t.\tgene_id "ENSG00000000419'),
            None,
            r"gencode.gtf, line 7: strand must be \+, - or \., got 'minus'",
        ),
        (
            GTF.replace("49575092", "4957509e"),
            None,
            r"gencode.gtf, line 7: start/end must be integers",
        ),
    ],
    ids=["no-gene-records", "no-gene-of-the-types", "bad-strand", "bad-end"],
)
def test_gtf_errors_name_the_file(tmp_path, text, gene_types, message):
    path = write_text(tmp_path / "gencode.gtf", text)
    with pytest.raises(InputError, match=message):
        read_annotation(path, gene_types)


def test_roadmap_files_read_as_before():
    # gene_info: whatever read_annotation's filter says, every row, ids untouched.
    genes = read_annotation(DEMO / "gene_info.tsv", ["lncRNA"])
    pd.testing.assert_frame_equal(genes, read_gene_info(DEMO / "gene_info.tsv"))
    assert len(genes) == len((DEMO / "gene_info.tsv").read_text().splitlines())
    # RPKM matrix: the numbers pandas reads, indexed by the ids as written.
    matrix = read_expression(DEMO / "demo.RPKM.pc.gz")
    raw = pd.read_csv(DEMO / "demo.RPKM.pc.gz", sep="\t", index_col="gene_id")
    pd.testing.assert_frame_equal(
        matrix, raw.astype(float), check_exact=True, check_index_type=False
    )


TPM_CSV = """gene_id,gene_name,E003,E004
ENSG00000000003.14,TSPAN6,10.5,0
ENSG00000000005.5,TNMD,0.1,2
ENSG00000182378.8,PLCXD1,3,4
ENSG00000182378.8_PAR_Y,PLCXD1,0,0
ENSG00000000419.12,DPM1,7,1e-3
"""


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzipped"])
def test_comma_separated_tpm_with_versioned_ids_and_a_name_column(tmp_path, caplog, gzipped):
    caplog.set_level(logging.INFO)
    table = read_expression(write_text(tmp_path / "tpm.tsv", TPM_CSV, gzipped))
    assert list(table.columns) == ["E003", "E004"]
    assert table.index.name == "gene_id"
    assert list(table.index) == [
        "ENSG00000000003",
        "ENSG00000000005",
        "ENSG00000182378",
        "ENSG00000000419",
    ]
    assert table.loc["ENSG00000182378", "E004"] == 4.0  # the chrX row, not the PAR_Y one
    assert table.loc["ENSG00000000419", "E004"] == 0.001
    assert "column gene_name is not a cell type, it holds text (line 2: 'TSPAN6')" in caplog.text
    assert (
        "1 chrY copies of pseudoautosomal genes (_PAR_Y, e.g. ENSG00000182378.8_PAR_Y on line 5)"
        in caplog.text
    )


def test_tab_separated_table_with_the_id_column_not_first(tmp_path):
    path = write_text(
        tmp_path / "fpkm.tsv",
        "symbol\tgene\tE003\tE004\nTNMD\t0012\t1\t2\nDPM1\tENSG00000000419.12\t3\t4\n",
    )
    table = read_expression(path, ["E004"], id_column="gene")
    assert list(table.columns) == ["E004"]
    assert list(table.index) == ["0012", "ENSG00000000419"]  # ids read as text
    assert table["E004"].tolist() == [2.0, 4.0]


@pytest.mark.parametrize(
    ("text", "cells", "id_column", "message"),
    [
        (
            "gene_id\tE003\nENSG00000000003.13\t1\nENSG00000000005.5\t2\nENSG00000000003.14\t3\n",
            None,
            None,
            r"tpm, line 4: gene ids ENSG00000000003.13 \(line 2\) and ENSG00000000003.14 "
            r"\(line 4\) are one gene without their version suffixes",
        ),
        (
            "gene_id,E003\nG1,1\n",
            None,
            "gene",
            r"tpm, line 1: no gene id column 'gene' \(sources.expression_id_column\); "
            r"the columns are gene_id, E003",
        ),
        (TPM_CSV, ["E003", "E999"], None, r"tpm, line 1: cell type E999 is not a column"),
        (
            TPM_CSV.replace("7,1e-3", "7,n.d."),
            ["E004"],
            None,
            r"tpm, line 6: gene ENSG00000000419.12, cell type E004: RPKM must be a non-negative "
            r"number, got 'n.d.'",
        ),
        (
            TPM_CSV.replace("0.1,2", "0.1,"),
            None,
            None,
            r"tpm, line 3: .* cell type E004: .* got an empty field or NA \(is the line comma-sep",
        ),
        ("E003\tE004\nG1\t1\t2\n", None, None, r"tpm, line 1: the header names one column fewer"),
        ("gene_id,gene_name\nG1,A\n", None, None, r"tpm, line 1: no column besides the gene id"),
    ],
    ids=[
        "versions-collide",
        "no-id-column",
        "missing-cell-type",
        "cell-type-with-text",
        "empty-field",
        "unnamed-id-column",
        "no-numbers",
    ],
)
def test_expression_table_errors(tmp_path, text, cells, id_column, message):
    path = write_text(tmp_path / "tpm", text)
    with pytest.raises(InputError, match=message):
        read_expression(path, cells, id_column)


def test_a_column_with_text_is_left_out_unless_asked_for(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = write_text(tmp_path / "tpm", TPM_CSV.replace("7,1e-3", "7,n.d."))
    assert list(read_expression(path).columns) == ["E003"]
    assert "column E004 is not a cell type, it holds text (line 6: 'n.d.')" in caplog.text


def demo_as_gencode(tmp_path) -> tuple[Path, Path]:
    """The demo's gene_info as a gzipped GTF and its RPKM matrix as a CSV, ids versioned,
    with a gene_name column and a lncRNA that neither Roadmap file has."""
    info = pd.read_csv(DEMO / "gene_info.tsv", sep="\t", header=None, dtype=str)
    rows = [
        f"chr{chrom} HAVANA gene {start} {end} {'+' if strand == '1' else '-'} "
        + gencode(f"{gene_id}.3", name=symbol)
        for gene_id, chrom, start, end, strand, _, symbol, _ in info.itertuples(index=False)
    ]
    lncrna = "chr1 HAVANA gene 100 900 + " + gencode("ENSG00000999999.1", "lncRNA")
    gtf = write_text(tmp_path / "gencode.gtf.gz", records(*rows, lncrna), gzipped=True)
    matrix = pd.read_csv(DEMO / "demo.RPKM.pc.gz", sep="\t", dtype={"gene_id": str})
    matrix.insert(1, "gene_name", "name")
    matrix["gene_id"] += ".7"
    csv = tmp_path / "tpm.csv"
    matrix.to_csv(csv, index=False)
    return gtf, csv


def test_gencode_gtf_and_versioned_csv_prepare_the_roadmap_genes(tmp_path):
    def prepare_protein_coding(genes, expression, out):
        return demo_reference_genes(
            genes, expression, out, sources={"gene_types": ["protein_coding"]}
        )

    demo_files = (DEMO / "gene_info.tsv", DEMO / "demo.RPKM.pc.gz")
    roadmap = prepare_protein_coding(*demo_files, tmp_path / "roadmap")
    gencode = prepare_protein_coding(*demo_as_gencode(tmp_path), tmp_path / "gencode")
    for name in ("genes.tsv", "expression.tsv", "bins.bed"):
        assert (gencode / name).read_text() == (roadmap / name).read_text(), name
    # datasets_build reads the stored table back: gene_id first, the cell types, as floats.
    stored = read_expression(gencode / "expression.tsv")
    assert list(stored.columns) == ["E000", "DEMO1", "DEMO2", "DEMO3"]
    assert stored.index.equals(pd.Index(pd.read_csv(gencode / "genes.tsv", sep="\t")["gene_id"]))


def test_configured_cell_types_are_checked_before_counting(tmp_path):
    _, csv = demo_as_gencode(tmp_path)
    with pytest.raises(InputError, match=r"tpm.csv, line 1: cell types? DEMO9"):
        demo_reference_genes(DEMO / "gene_info.tsv", csv, tmp_path, cells=["DEMO1", "DEMO9"])
    assert not list(tmp_path.glob("*.tsv")) and not (tmp_path / "bins.bed").exists()


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("inf", "which is not a finite number"),
        ("Infinity", "which is not a finite number"),
        ("+INF", "which is not a finite number"),
        ("1e999", "which is not a finite number"),  # overflows to inf
        ("-inf", "which is not a finite number"),
        ("NaN", "a missing value"),
        ("NAN", "a missing value"),
        ("NA", "a missing value"),
        ("n/a", "a missing value"),
        ("null", "a missing value"),
        ("", "an empty field"),
    ],
)
@pytest.mark.parametrize("cells", [None, ["E004"]], ids=["all-columns", "configured"])
def test_only_finite_non_negative_numbers_are_expression_values(tmp_path, value, why, cells):
    path = write_text(tmp_path / "tpm.tsv", f"gene_id\tE003\tE004\nG1\t1\t2\nG2\t3\t{value}\n")
    shown = repr(value) if value else "an empty field"
    with pytest.raises(InputError) as error:
        read_expression(path, cells)
    assert str(error.value).startswith(
        f"{path}, line 3: gene G2, cell type E004: RPKM must be a non-negative number, got {shown}"
    )
    assert why in str(error.value)


FEATURECOUNTS = (
    '# Program:featureCounts v2.0.1; Command:"featureCounts" "-a" "genes.gtf" "-o" "counts"\n'
    "Geneid\tChr\tStart\tEnd\tStrand\tLength\tE003\n"
    "ENSG00000000003.14\tchrX;chrX\t100;200\t150;300\t-;-\t151\t12\n"
    "ENSG00000000005.5\tchrX\t400\t500\t+\t101\t0\n"
)


def test_leading_comment_lines_are_skipped(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    table = read_expression(write_text(tmp_path / "counts", FEATURECOUNTS), ["E003"])
    assert table["E003"].to_dict() == {"ENSG00000000003": 12.0, "ENSG00000000005": 0.0}
    assert "1 comment line(s) (#) before the header skipped" in caplog.text
    # Line numbers still count the comment.
    bad = FEATURECOUNTS.replace("\t101\t0\n", "\t101\tinf\n")
    with pytest.raises(InputError, match=r"counts, line 4: gene ENSG00000000005.5, cell type E003"):
        read_expression(write_text(tmp_path / "counts", bad), ["E003"])


@pytest.mark.parametrize("comment", ["", "# written by hand\n"], ids=["alone", "after-a-comment"])
def test_a_header_written_with_a_hash_is_the_header(tmp_path, comment):
    text = f"{comment}#gene_id\tE003\tE004\nG1\t1\t2\nG2\t3\t-4\n"
    path = write_text(tmp_path / "tpm", text)
    assert list(read_expression(path, ["E003"]).columns) == ["E003"]
    line = 3 + bool(comment)
    with pytest.raises(InputError, match=rf"tpm, line {line}: gene G2, cell type E004: .* '-4'"):
        read_expression(path)


def test_a_decimal_comma_is_named_as_the_cause(tmp_path):
    path = write_text(tmp_path / "tpm", "gene_id\tE003\nG1\t1,5\nG2\t2\n")
    with pytest.raises(InputError) as error:
        read_expression(path, ["E003"])
    assert str(error.value) == (
        f"{path}, line 2: gene G1, cell type E003: RPKM must be a non-negative number, got "
        "'1,5': a comma in a number (write decimals with a point, 1.5, and thousands without "
        "a separator)"
    )


def test_an_all_zero_cell_type_stops_the_gene_step_naming_table_and_column(tmp_path):
    matrix = pd.read_csv(DEMO / "demo.RPKM.pc.gz", sep="\t", dtype={"gene_id": str})
    matrix["DEMO2"] = 0.0
    path = tmp_path / "rpkm.tsv"
    matrix.to_csv(path, sep="\t", index=False)
    out = tmp_path / "out"
    with pytest.raises(InputError) as error:
        demo_reference_genes(DEMO / "gene_info.tsv", path, out, cells=["DEMO1", "DEMO2"])
    assert str(error.value).startswith(
        f"{path}: column DEMO2 is 0 for all 1200 genes kept (a failed quantification?)"
    )
    assert not list(out.iterdir())
    # A column that is not configured is not checked: it never becomes labels.
    demo_reference_genes(DEMO / "gene_info.tsv", path, out, cells=["DEMO1"])
