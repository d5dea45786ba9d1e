import numpy as np
import pytest

from attentivechrome.data.dataset import (
    SplitData,
    read_authors_csv,
    read_npz,
    write_authors_csv,
    write_npz,
)
from attentivechrome.errors import InputError
from helpers import MARKS


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(3, 5, 100)).astype(np.int32)
    ids = np.array(["ENSG00000000003", "ENSG00000000005", "ENSG00000132963"])
    return SplitData(ids, np.array(MARKS), X, np.array([1, 0, 1], dtype=np.int8))


def test_csv_has_the_authors_layout(data, tmp_path):
    path = tmp_path / "train.csv"
    write_authors_csv(data, path)
    lines = path.read_text().splitlines()
    assert len(lines) == 300
    first = lines[0].split(",")
    assert first[:2] == ["000003", "1"]
    assert first[2:7] == [str(data.X[0, m, 0]) for m in range(5)]
    assert first[7] == "1"
    assert lines[199].split(",")[:2] == ["000005", "100"]
    assert lines[200].startswith("132963,1,")


def test_csv_and_npz_round_trip(data, tmp_path):
    write_authors_csv(data, tmp_path / "x.csv")
    write_npz(data, tmp_path / "x.npz")
    for back in (read_authors_csv(tmp_path / "x.csv", MARKS), read_npz(tmp_path / "x.npz")):
        np.testing.assert_array_equal(back.X, data.X)
        np.testing.assert_array_equal(back.y, data.y)
        assert list(back.gene_ids) == list(data.gene_ids)


def test_reading_a_missing_bin_row_names_the_line(data, tmp_path):
    path = tmp_path / "x.csv"
    write_authors_csv(data, path)
    lines = path.read_text().splitlines()
    del lines[150]
    lines.append(lines[-1])  # keep a multiple of 100 rows
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"x.csv, line 151: gene 000005: expected bin 51"):
        read_authors_csv(path, MARKS)


def test_reading_a_wrong_column_count_names_the_line(data, tmp_path):
    path = tmp_path / "x.csv"
    write_authors_csv(data, path)
    lines = path.read_text().splitlines()
    lines[7] += ",3"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"line 8: expected 8 comma-separated columns, found 9"):
        read_authors_csv(path, MARKS)


def test_npz_reader_checks_the_file_and_names_it(data, tmp_path):
    path = tmp_path / "valid.npz"
    np.savez(path, X=data.X, y=np.zeros(3, np.int8), gene_ids=data.gene_ids, marks=MARKS)
    with pytest.raises(InputError, match=r"valid.npz: valid split: 0 positive and 3 negative"):
        read_npz(path)
    with pytest.raises(InputError, match="absent.npz: test split file not found"):
        read_npz(tmp_path / "absent.npz", "test")
