import gzip
from pathlib import Path

import pytest

from lrfinder.data.cleaning import (
    WINE_FEATURES,
    clean,
    clean_custom,
    clean_wine,
    label_rule,
    read_table,
)
from lrfinder.data.sources import DataSource, SourceFile
from lrfinder.errors import DataError
from lrfinder.params import DataSettings
from tests.helpers import HEADER, wine_csv_text, wine_row


def source(path: Path, wine_type: str | None = None) -> DataSource:
    return DataSource((SourceFile(path, "0" * 64, wine_type),), "test")


def write(tmp_path: Path, text: str | bytes, name: str = "wine.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_wine_preset_gives_the_tutorial_columns(tmp_path):
    data = clean_wine(source(write(tmp_path, wine_csv_text(30))))
    assert list(data.frame.columns) == [*WINE_FEATURES, "is_white_wine", "is_good_wine"]
    assert data.target == "is_good_wine"
    assert data.frame["is_good_wine"].dtype == "int64"
    assert data.report["rows_clean"] == 30
    assert set(data.frame["is_white_wine"]) == {0.0, 1.0}


def test_columns_the_wine_preset_ignores_are_listed(tmp_path):
    lines = wine_csv_text(10).splitlines()
    extra = [f"{lines[0]},vineyard,price"] + [
        f"{line},north,{i}" for i, line in enumerate(lines[1:])
    ]
    data = clean_wine(source(write(tmp_path, "\n".join(extra) + "\n")))
    assert data.report["ignored_columns"] == ["vineyard", "price"]
    assert "price" not in data.frame.columns
    assert clean_wine(source(write(tmp_path, wine_csv_text(10)))).report["ignored_columns"] == []


def test_label_is_quality_at_least_threshold(tmp_path):
    rows = [wine_row(0, quality=5), wine_row(1, quality=6), wine_row(2, quality=7)]
    path = write(tmp_path, "\n".join([HEADER, *rows]))
    assert clean_wine(source(path)).frame["is_good_wine"].tolist() == [0, 1, 1]
    stricter = clean_wine(
        source(path), label_rule(DataSettings(target=None, threshold=7, positive_label=None))
    )
    assert stricter.frame["is_good_wine"].tolist() == [0, 0, 1]
    assert stricter.report["label_rule"] == "quality >= 7"


def test_rows_with_missing_values_are_dropped_and_counted(tmp_path):
    rows = [wine_row(i) for i in range(6)]
    rows[2] = rows[2].replace(",0.3,", ",,", 1)
    rows[4] = "," + rows[4].split(",", 1)[1]
    data = clean_wine(source(write(tmp_path, "\n".join([HEADER, *rows]))))
    assert data.report["rows_read"] == 6
    assert data.report["rows_dropped_missing"] == 2
    assert len(data.frame) == 4


def test_duplicates_are_reported(tmp_path):
    rows = [wine_row(0), wine_row(0), wine_row(1), wine_row(2), wine_row(2), wine_row(2)]
    data = clean_wine(source(write(tmp_path, "\n".join([HEADER, *rows]))))
    assert data.report["duplicate_rows"] == 3


def test_gzip_and_semicolon_files_are_read(tmp_path):
    text = wine_csv_text(12)
    path = write(tmp_path, gzip.compress(text.replace(",", ";").encode()), "wine.csv.gz")
    assert len(clean_wine(source(path)).frame) == 12


def test_uci_pair_gets_type_from_the_file_role(tmp_path):
    lines = wine_csv_text(8).splitlines()
    strip_type = ["\n".join(line.split(",", 1)[1].replace(",", ";") for line in lines)]
    red = write(tmp_path, strip_type[0], "red.csv")
    white = write(tmp_path, strip_type[0], "white.csv")
    pair = DataSource((SourceFile(white, "a", "white"), SourceFile(red, "b", "red")), "test")
    data = clean_wine(pair)
    assert data.frame["is_white_wine"].tolist() == [1.0] * 8 + [0.0] * 8


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", r"wine\.csv: the file is empty"),
        (HEADER.encode() + b"\n", r"wine\.csv: has a header but no data rows"),
        (
            (HEADER + "\n" + wine_row(0)).encode() + b"\n\xff\xfe,1\n",
            r"wine\.csv: line 3 has bytes that are not UTF-8.*re-save the file as UTF-8",
        ),
        (
            (HEADER + "\n" + wine_row(0)).replace(",", "\t").encode(),
            r"wine\.csv: the header \(line 1\) has no comma or semicolon.*\(tabs\)",
        ),
        (
            (HEADER + "\n" + wine_row(0) + ",extra\n").encode(),
            r"wine\.csv: line 2 has 14 fields, the header has 13",
        ),
    ],
    ids=["empty", "header-only", "undecodable", "wrong-delimiter", "ragged"],
)
def test_unreadable_files_are_rejected_with_the_file_named(tmp_path, content, expected):
    with pytest.raises(DataError, match=expected):
        clean_wine(source(write(tmp_path, content)))


def test_missing_feature_column_is_named(tmp_path):
    text = wine_csv_text(5).replace(",alcohol,", ",alcohool,")
    with pytest.raises(DataError, match=r"wine\.csv: missing column\(s\) \['alcohol'\]"):
        clean_wine(source(write(tmp_path, text)))


def test_a_repeated_header_name_is_named_beside_the_missing_column(tmp_path):
    text = wine_csv_text(5).replace(",quality\n", ",fixed acidity\n", 1)
    with pytest.raises(DataError) as raised:
        clean_wine(source(write(tmp_path, text)))
    message = str(raised.value)
    assert "names 'fixed acidity' 2 times (columns 2, 13)" in message
    assert "missing column(s) ['quality']" in message


@pytest.mark.parametrize("own_data", [False, True], ids=["wine", "own"])
def test_a_repeated_header_name_is_refused_even_with_every_needed_column(tmp_path, own_data):
    lines = [HEADER + ",alcohol", *(wine_row(i) + ",9.5" for i in range(5))]
    data = source(write(tmp_path, "\n".join(lines) + "\n"))
    with pytest.raises(
        DataError, match=r"wine\.csv: the header \(line 1\) names 'alcohol' 2 times"
    ):
        clean(
            data, label_rule(DataSettings(target="quality", threshold=6, positive_label=None))
        ) if own_data else clean_wine(data)


def test_the_wine_preset_ignores_blank_trailing_header_cells(tmp_path):
    lines = [HEADER + ",,", *(wine_row(i) + ",," for i in range(5))]
    data = clean_wine(source(write(tmp_path, "\n".join(lines) + "\n")))
    assert len(data.frame) == 5 and data.report["ignored_columns"] == [""]


def test_non_numeric_value_names_column_and_line(tmp_path):
    rows = [wine_row(i) for i in range(5)]
    rows[3] = rows[3].replace(",0.05,", ",abc,")
    with pytest.raises(
        DataError, match=r"wine\.csv: column 'chlorides', line 5: 'abc' is not a number"
    ):
        clean_wine(source(write(tmp_path, "\n".join([HEADER, *rows]))))


def test_infinite_value_names_column_and_line(tmp_path):
    rows = [wine_row(i) for i in range(5)]
    rows[1] = rows[1].replace(",0.995,", ",inf,")
    with pytest.raises(DataError, match=r"column 'density', line 3: infinite value 'inf'"):
        clean_wine(source(write(tmp_path, "\n".join([HEADER, *rows]))))


def test_unknown_wine_type_names_the_row(tmp_path):
    rows = [wine_row(i) for i in range(5)]
    rows[2] = "rose" + rows[2][len("white") :]
    with pytest.raises(DataError, match=r"column 'type', line 4: unknown value 'rose'"):
        clean_wine(source(write(tmp_path, "\n".join([HEADER, *rows]))))


def test_one_class_after_labelling_is_rejected(tmp_path):
    rows = [wine_row(i, quality=5) for i in range(6)]
    with pytest.raises(DataError, match=r"quality >= 6 every one of the 6 clean rows is class 0"):
        clean_wine(source(write(tmp_path, "\n".join([HEADER, *rows]))))


def test_own_data_encodes_text_columns(tmp_path):
    text = "\n".join(
        [
            "size,colour,shape,score",
            "1.5,red,round,3",
            "2.5,blue,square,7",
            "3.5,red,oval,9",
            "4.5,blue,round,1",
        ]
    )
    rule = label_rule(DataSettings(target="score", threshold=5, positive_label=None))
    data = clean_custom(source(write(tmp_path, text, "own.csv")), rule)
    assert data.target == "score"
    assert data.features == ["size", "colour", "shape=oval", "shape=round", "shape=square"]
    assert data.frame["colour"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert data.frame["shape=round"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert data.frame["score"].tolist() == [0, 1, 1, 0]
    assert data.report["encodings"]["colour"] == {"kind": "binary", "one": "red", "zero": "blue"}


def test_own_data_positive_label(tmp_path):
    text = "x,y,label\n1,2,spam\n2,3,ham\n3,4,spam\n,5,ham\n"
    rule = label_rule(DataSettings(target="label", threshold=None, positive_label="spam"))
    data = clean(source(write(tmp_path, text, "own.csv")), rule)
    assert data.frame["label"].tolist() == [1, 0, 1]
    assert data.report["rows_dropped_missing"] == 1


def test_own_data_missing_target_is_named(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4\n", "own.csv")
    with pytest.raises(DataError, match=r"own\.csv: missing column\(s\) \['label'\].*--target"):
        clean_custom(
            source(path), label_rule(DataSettings(target="label", threshold=1, positive_label=None))
        )


def test_own_data_numeric_column_with_a_typo_is_an_error_not_a_category(tmp_path):
    rows = [f"{i}.5,{i % 2}" for i in range(20)]
    rows[7] = "seven,1"
    path = write(tmp_path, "\n".join(["x,y", *rows]), "own.csv")
    with pytest.raises(DataError, match=r"column 'x', line 9: 'seven' is not a number"):
        clean_custom(
            source(path), label_rule(DataSettings(target="y", threshold=1, positive_label=None))
        )


def test_label_rule_parameters_are_checked():
    assert (
        label_rule(DataSettings(target=None, threshold=None, positive_label=None)).describe()
        == "quality >= 6"
    )
    with pytest.raises(ValueError, match="two rules for one label"):
        label_rule(DataSettings(target="y", threshold=1.0, positive_label="yes"))
    with pytest.raises(ValueError, match="but task is regression"):
        label_rule(DataSettings(target="y", threshold=1.0, positive_label=None, task="regression"))
    assert (
        label_rule(DataSettings(target="y", threshold=None, positive_label="yes")).task == "binary"
    )
    assert label_rule(DataSettings(target="y", threshold=None, positive_label=None)).task is None, (
        "inferred from the values"
    )
    assert (
        label_rule(
            DataSettings(target=None, threshold=None, positive_label=None, task="multiclass")
        ).describe()
        == "quality as classes"
    )
    with pytest.raises(ValueError, match="positive_label needs target"):
        label_rule(DataSettings(target=None, threshold=None, positive_label="yes"))


def test_read_table_keeps_text_indexed_by_file_line(tmp_path):
    table = read_table(write(tmp_path, "a;b\n01; x\n\n2;NA\n"))
    assert table["a"].tolist() == ["01", "2"]
    assert table["b"].iloc[0] == "x" and table["b"].isna().iloc[1]
    assert table.index.tolist() == [2, 4]


def test_lines_are_counted_across_blank_lines(tmp_path):
    rows = [wine_row(0), "", wine_row(1).replace(",30,", ",thirty,")]
    with pytest.raises(DataError, match=r"column 'free sulfur dioxide', line 4: 'thirty'"):
        clean_wine(source(write(tmp_path, "\n".join([HEADER, *rows]))))
