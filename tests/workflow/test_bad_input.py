"""Damaged inputs fed through the real rules: a clear message in the job's log, no output."""

from __future__ import annotations

import gzip
import shutil

import pytest
import yaml

from helpers import REPO, snakemake

# Every test here runs the real Snakemake on the demo (seconds to a minute each).
pytestmark = pytest.mark.slow

DEMO_READS = REPO / "resources/demo/tagalign"


def run_config(tmp_path, target: str, **settings):
    """Run one target of the demo with `settings` layered over it, results under tmp_path."""
    layer = {"results": str(tmp_path / "results"), **settings}
    (tmp_path / "layer.yaml").write_text(yaml.safe_dump(layer))
    configs = ["config/config.yaml", str(tmp_path / "layer.yaml")]
    target = str(tmp_path / "results" / target)
    return snakemake(target, "--cores", "1", "--configfile", *configs, check=False)


def run_target(tmp_path, target: str, **settings) -> str:
    """Like run_config; return the output of the run, which must have failed."""
    result = run_config(tmp_path, target, **settings)
    assert result.returncode != 0, "a damaged input must stop the run"
    return result.stdout + result.stderr


def damaged_reads(tmp_path, damage) -> dict:
    """Sources whose DEMO1-H3K4me3 reads went through `damage(bytes) -> bytes`."""
    folder = tmp_path / "reads"
    shutil.copytree(DEMO_READS, folder)
    path = folder / "DEMO1-H3K4me3.tagAlign.gz"
    path.write_bytes(damage(path.read_bytes()))
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())["sources"]
    return {**base, "tagalign": str(folder / "{cell}-{mark}.tagAlign.gz")}


def test_truncated_gzip_is_refused_with_no_output(tmp_path):
    sources = damaged_reads(tmp_path, lambda data: data[: len(data) // 2])
    run_target(tmp_path, "bam/DEMO1/H3K4me3.bam", sources=sources)
    log = (tmp_path / "results/logs/bam/DEMO1/H3K4me3.log").read_text()
    assert f"{tmp_path}/reads/DEMO1-H3K4me3.tagAlign.gz: truncated or corrupted gzip data" in log
    assert not (tmp_path / "results/downloads").exists()  # a local file is read in place
    assert not list((tmp_path / "results/bam/DEMO1").glob("H3K4me3*"))


def test_non_numeric_coordinate_names_file_and_line(tmp_path):
    def damage(data: bytes) -> bytes:
        lines = gzip.decompress(data).splitlines(keepends=True)
        lines[41] = b"chr1\t12x45\t12381\tN\t1000\t+\n"
        return gzip.compress(b"".join(lines))

    sources = damaged_reads(tmp_path, damage)
    run_target(tmp_path, "bam/DEMO1/H3K4me3.bam", sources=sources)
    log = (tmp_path / "results/logs/bam/DEMO1/H3K4me3.log").read_text()
    # The user's own file, read where it is.
    assert f"{tmp_path}/reads/DEMO1-H3K4me3.tagAlign.gz, line 42" in log
    assert "downloads/" not in log.split(" ERROR ", 1)[1]
    assert "12x45" in log or "integer" in log
    assert "Traceback" not in log
    assert not list((tmp_path / "results/bam/DEMO1").glob("H3K4me3*"))


def test_authors_csv_with_a_missing_bin_row_is_refused_on_import(tmp_path):
    folder = tmp_path / "zenodo/DEMO1/classification"
    folder.mkdir(parents=True)
    rows = [f"{gene:06d},{b},0,1,0,2,0,1\n" for gene in range(3, 8) for b in range(1, 101)]
    for split in ("train", "valid", "test"):
        (folder / f"{split}.csv").write_text("".join(rows))
    broken = rows[:250] + rows[251:] + rows[-1:]
    (folder / "valid.csv").write_text("".join(broken))
    run_target(tmp_path, "DEMO1/data/test.npz", authors_data=str(tmp_path / "zenodo"))
    log = (tmp_path / "results/logs/datasets/DEMO1.log").read_text()
    assert "valid.csv, line 251: gene 000005: expected bin 51" in log
    assert not (tmp_path / "results/DEMO1/data/valid.npz").exists()


DEMO = REPO / "resources/demo"


def damaged_reference(tmp_path, *, gene_info=None, expression=None) -> dict:
    """Sources with gene_info or the RPKM matrix replaced by the given text."""
    sources = yaml.safe_load((REPO / "config/config.yaml").read_text())["sources"]
    for key, text in (("genes", gene_info), ("expression", expression)):
        if text is not None:
            path = tmp_path / f"damaged-{key}.tsv"
            path.write_text(text)
            sources[key] = str(path)
    return sources


def demo_rpkm() -> str:
    return gzip.decompress((DEMO / "demo.RPKM.pc.gz").read_bytes()).decode()


def refused_reference(tmp_path, **damage) -> str:
    """The gene step's log after it refused the damaged input; no output may exist."""
    run_target(tmp_path, "reference/genes.tsv", sources=damaged_reference(tmp_path, **damage))
    log = (tmp_path / "results/logs/reference/genes.log").read_text()
    assert "Traceback" not in log
    assert not list((tmp_path / "results/reference").glob("*.tsv"))
    assert not (tmp_path / "results/reference/bins.bed").exists()
    return log


def test_duplicated_cell_type_column_is_an_error_naming_it(tmp_path):
    lines = demo_rpkm().splitlines()
    doubled = ["\t".join([*line.split("\t"), line.split("\t")[1]]) for line in lines]
    doubled[0] = doubled[0].rsplit("\t", 1)[0] + "\tDEMO1"
    log = refused_reference(tmp_path, expression="\n".join(doubled) + "\n")
    assert "damaged-expression.tsv, line 1: column name(s) DEMO1 appear more than once" in log


def test_space_separated_expression_names_the_separator(tmp_path):
    log = refused_reference(tmp_path, expression=demo_rpkm().replace("\t", " "))
    assert (
        "damaged-expression.tsv, line 1: expected a tab-separated header (its columns are " in log
    )
    assert "separated by spaces, not tabs)" in log


def with_value(text: str, line: int, column: str, value: str) -> str:
    """A tab-separated table with the field of `column` on line `line` (1-based) replaced."""
    lines = text.splitlines()
    index = lines[0].split("\t").index(column)
    fields = lines[line - 1].split("\t")
    fields[index] = value
    lines[line - 1] = "\t".join(fields)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("value", ["inf", "Infinity"])
def test_a_non_finite_expression_value_names_file_line_gene_and_column(tmp_path, value):
    # pandas reads these as a float, infinity, which labels and training would have taken.
    rpkm = demo_rpkm()
    gene = rpkm.splitlines()[5].split("\t")[0]
    log = refused_reference(tmp_path, expression=with_value(rpkm, 6, "DEMO2", value))
    assert (
        f"damaged-expression.tsv, line 6: gene {gene}, cell type DEMO2: RPKM must be a "
        f"non-negative number, got '{value}', which is not a finite number"
    ) in log


def test_an_all_zero_cell_type_is_refused_at_the_gene_step(tmp_path):
    lines = demo_rpkm().splitlines()
    column = lines[0].split("\t").index("DEMO2")
    zeros = [lines[0]] + [
        "\t".join("0" if i == column else f for i, f in enumerate(line.split("\t")))
        for line in lines[1:]
    ]
    log = refused_reference(tmp_path, expression="\n".join(zeros) + "\n")
    assert (
        "damaged-expression.tsv: column DEMO2 is 0 for all 1200 genes kept (a failed "
        "quantification?): no gene is above the median, so every gene would be labelled 0"
    ) in log


def test_gene_past_its_chromosome_end_is_dropped_and_logged(tmp_path):
    lines = (DEMO / "gene_info.tsv").read_text().splitlines(keepends=True)
    fields = lines[0].split("\t")  # ENSG00000000003 on chr3 (4 Mb)
    fields[2:4] = ["4100000", "4107000"]
    lines[0] = "\t".join(fields)
    sources = damaged_reference(tmp_path, gene_info="".join(lines))
    result = run_config(tmp_path, "reference/genes.tsv", sources=sources)
    assert result.returncode == 0, result.stderr
    genes = (tmp_path / "results/reference/genes.tsv").read_text()
    assert "ENSG00000000003" not in genes and "ENSG00000000235" in genes
    log = (tmp_path / "results/logs/reference/genes.log").read_text()
    assert "1 genes lie past their chromosome's end and are dropped" in log
    assert "dropped (past the end of its chromosome): ENSG00000000003" in log


def test_chromosome_sizes_errors_name_the_users_file(tmp_path):
    sizes = tmp_path / "my.sizes"
    sizes.write_text("chr1\t6000000\nchr2\tfive\n")
    sources = {**damaged_reference(tmp_path), "chrom_sizes": str(sizes)}
    run_target(tmp_path, "reference/chrom.sizes", sources=sources)
    log = (tmp_path / "results/logs/reference/chrom_sizes.log").read_text()
    assert f"{sizes}, line 2: size 'five' is not a positive integer" in log
    assert not (tmp_path / "results/reference/chrom.sizes").exists()


# --- your own data: the sample sheet, BAM inputs and a GTF (resources/own_demo) ---

OWN = REPO / "resources/own_demo"


def run_own(tmp_path, target: str, sheet_rows=None, **settings):
    """A target of config/own-data.yaml with `settings` layered over it; it must fail."""
    layer = {"results": str(tmp_path / "results"), **settings}
    if sheet_rows is not None:
        sheet = tmp_path / "samples.tsv"
        sheet.write_text("cell\tmark\tpath\tformat\n" + "".join(f"{row}\n" for row in sheet_rows))
        layer["samples"] = str(sheet)
    (tmp_path / "layer.yaml").write_text(yaml.safe_dump(layer))
    configs = ["config/own-data.yaml", str(tmp_path / "layer.yaml")]
    result = snakemake(
        str(tmp_path / "results" / target), "--cores", "1", "--configfile", *configs, check=False
    )
    assert result.returncode != 0, "a damaged input must stop the run"
    return result.stdout + result.stderr


def own_rows() -> list[str]:
    """The shipped sheet's rows with absolute paths."""
    lines = (OWN / "samples.tsv").read_text().splitlines()[1:]
    return [line.replace("resources/own_demo", str(OWN)) for line in lines]


def test_sheet_without_a_mark_for_a_cell_type_stops_before_any_job(tmp_path):
    rows = [row for row in own_rows() if not row.startswith("OWN2\tH3K27ac")]
    output = run_own(tmp_path, "summary.tsv", rows)
    assert f"{tmp_path}/samples.tsv: no reads for OWN2 H3K27ac" in output
    assert not (tmp_path / "results").exists()


def test_sheet_and_pattern_together_are_refused(tmp_path):
    output = run_own(tmp_path, "summary.tsv", sources={"tagalign": "{cell}-{mark}.gz"})
    assert "names both a sample sheet (samples) and a tagAlign pattern" in output


def test_truncated_unindexed_bam_is_refused_with_no_output(tmp_path):
    truncated = tmp_path / "cut.bam"
    truncated.write_bytes((OWN / "reads/OWN1-H3K27ac-rep2.bam").read_bytes()[:-5000])
    rows = [f"OWN1\tH3K27ac\t{truncated}\t" if "H3K27ac-rep2" in row else row for row in own_rows()]
    run_own(tmp_path, "bam/OWN1/H3K27ac.rep2.bam", rows)
    log = (tmp_path / "results/logs/bam/OWN1/H3K27ac.rep2.log").read_text()
    assert f"{truncated}: truncated BAM file" in log and "Traceback" not in log
    assert not list((tmp_path / "results/bam/OWN1").glob("H3K27ac*"))


def test_gtf_without_gene_records_names_the_file(tmp_path):
    text = gzip.decompress((OWN / "annotation.gtf.gz").read_bytes()).decode()
    no_genes = "".join(line + "\n" for line in text.splitlines() if "\tgene\t" not in line)
    gtf = tmp_path / "transcripts.gtf"
    gtf.write_text(no_genes)
    config = yaml.safe_load((REPO / "config/own-data.yaml").read_text())
    sources = {**config["sources"], "genes": str(gtf)}
    run_own(tmp_path, "reference/genes.tsv", own_rows(), sources=sources)
    log = (tmp_path / "results/logs/reference/genes.log").read_text()
    assert f"{gtf}: no `gene` records" in log
    assert not (tmp_path / "results/reference/genes.tsv").exists()
