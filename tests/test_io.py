import gzip

import pandas as pd
import pytest

from lookalike.errors import (
    FIRST_LINE_ATTR,
    InputFileError,
    InvalidDataError,
    InvalidParameterError,
)
from lookalike.io import read_table, write_table


def test_reads_csv_as_text_keeping_leading_zeros(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("zip,n\n01234,1\n98765,2\n", encoding="utf-8")
    df = read_table(p)
    assert df["zip"].tolist() == ["01234", "98765"]
    assert df["n"].tolist() == ["1", "2"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_sniffs_delimiter(tmp_path, sep):
    p = tmp_path / "a.csv"
    p.write_text(sep.join(["a", "b", "c"]) + "\n" + "\n".join(
        sep.join([str(i), f"x{i}", f"{i}.5"]) for i in range(20)) + "\n")
    df = read_table(p)
    assert list(df.columns) == ["a", "b", "c"] and len(df) == 20


def test_detects_missing_header(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("1,2.5,x\n3,4.5,y\n5,6.5,z\n")
    df = read_table(p)
    assert list(df.columns) == ["column_1", "column_2", "column_3"] and len(df) == 3
    assert list(read_table(p, header=True).columns) == ["1", "2.5", "x"]


def test_utf8_bom_and_unicode(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("\ufeffname,city\nJosé,Zürich\nÅsa,東京\n".encode())
    df = read_table(p)
    assert list(df.columns) == ["name", "city"] and df["city"].tolist() == ["Zürich", "東京"]


def test_non_utf8_bytes_name_line_and_fix(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("a,b\nx,1\ncaf\xe9,2\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"latin.csv, line 3: byte 0xe9.*--encoding"):
        read_table(p)
    assert read_table(p, encoding="latin-1")["a"].tolist() == ["x", "café"]


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputFileError, match="empty"):
        read_table(empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b,c\n")
    with pytest.raises(InputFileError, match="header .*no data rows"):
        read_table(header)


def test_malformed_line_is_named(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    with pytest.raises(InputFileError, match="line 3 has 3 fields but the header has 2"):
        read_table(p)


def test_duplicate_column_names(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(InvalidDataError, match=r"duplicate column name\(s\) \['a'\]"):
        read_table(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_folder_of_parts_and_parquet(tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    (d / "1.csv").write_text("a,b\n1,x\n2,y\n")
    (d / "2.csv").write_text("a,b\n3,z\n")
    df = read_table(d)
    assert df["a"].tolist() == ["1", "2", "3"]
    (d / "3.csv").write_text("a,c\n4,w\n")
    with pytest.raises(InvalidDataError, match="same columns"):
        read_table(d)
    pq = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]}).to_parquet(pq)
    assert read_table(pq)["x"].tolist() == [1.5, 2.5]


def test_gzip_csv(tmp_path):
    p = tmp_path / "a.csv.gz"
    p.write_bytes(gzip.compress(b"a,b\n1,2\n3,4\n"))
    assert read_table(p)["b"].tolist() == ["2", "4"]


def test_write_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("old content\n")
    df = pd.DataFrame({"a": [1, 2]})

    def boom(self, path, **kwargs):
        with open(path, "w") as fh:
            fh.write("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(KeyboardInterrupt):
        write_table(df, out)
    assert out.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_write_formats(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_table(df, tmp_path / "o.parquet")
    assert pd.read_parquet(tmp_path / "o.parquet").equals(df)
    write_table(df, tmp_path / "o.csv")
    assert pd.read_csv(tmp_path / "o.csv").equals(df)
    with pytest.raises(InvalidParameterError, match="output format"):
        write_table(df, tmp_path / "o.xlsx")


def test_csv_rows_know_their_file_lines(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("a,b\n1,x\n2,y\n3,z\n")
    assert read_table(p).attrs[FIRST_LINE_ATTR] == 2
    p.write_text("1,x\n2,y\n3,z\n")  # no header: data row 1 is line 1
    assert read_table(p).attrs[FIRST_LINE_ATTR] == 1
    # a blank line or a line break inside a quoted cell: rows and lines no longer match
    p.write_text("a,b\n1,x\n\n2,y\n3,z\n")
    assert FIRST_LINE_ATTR not in read_table(p).attrs
    p.write_text('a,b\n1,"two\nlines"\n2,y\n')
    assert FIRST_LINE_ATTR not in read_table(p).attrs
    (tmp_path / "parts").mkdir()
    for i in range(2):
        (tmp_path / "parts" / f"{i}.csv").write_text("a,b\n1,x\n2,y\n")
    assert FIRST_LINE_ATTR not in read_table(tmp_path / "parts").attrs
