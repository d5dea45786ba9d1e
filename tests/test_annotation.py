import gzip

import pandas as pd
import pytest

from attentivechrome.annotation import (
    deduplicate_genes,
    read_expression,
    read_gene_info,
    select_genes,
)
from attentivechrome.errors import InputError

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


def test_gene_info_tss_follows_strand_and_chroms_get_prefix(gene_info):
    genes = read_gene_info(gene_info).set_index("gene_id")
    assert genes.loc["ENSG00000000003", "tss"] == 99894988  # minus strand: end
    assert genes.loc["ENSG00000000005", "tss"] == 99839799  # plus strand: start
    assert genes.loc["ENSG00000000003", "chrom"] == "chrX"
    assert genes.loc["ENSG00000198888"].chrom == "chrM"


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
        ([("G1", 1, 2)], ["E999"], r"line 1: cell types E999 are not columns"),
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
    from attentivechrome.figures import read_cell_table

    path = tmp_path / "cells.tsv"
    path.write_text("id\tname\tname\nE003\tH1\tH1 again\n")
    with pytest.raises(InputError, match=r"cells.tsv, line 1: column name\(s\) name appear"):
        read_cell_table(path)
