"""Data URIs: which kind each is (decided in one place), and local reading and writing.

S3 and HTTP are read for real in tests/integration/test_data.py.
"""

from __future__ import annotations

import pytest

from titanic_model.environment import StorageConfig
from titanic_model.io.data import (
    DataSourceError,
    Location,
    iter_passenger_csv,
    locate,
    open_output,
    read_passenger_csv,
)


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        ("data/train.csv", Location.LOCAL),
        ("/abs/train.csv", Location.LOCAL),
        ("file:///abs/train.csv", Location.LOCAL),
        ("https://example.org/train.csv", Location.WEB),
        ("http://127.0.0.1:8000/train.csv", Location.WEB),
        ("s3://bucket/raw/train.csv", Location.S3),
    ],
)
def test_each_uri_has_one_location(uri, location):
    assert locate(uri, "read data_uri") is location


def test_another_scheme_is_a_one_line_error():
    with pytest.raises(DataSourceError) as refused:
        read_passenger_csv("ftp://example.org/train.csv", StorageConfig())
    assert str(refused.value) == (
        "cannot read data_uri ftp://example.org/train.csv: scheme ftp:// is not supported "
        "(use a local path, https:// or s3://)"
    )


def test_text_columns_stay_text(tmp_path):
    source = tmp_path / "passengers.csv"
    source.write_text("PassengerId,Ticket,Cabin\n1,0123,\n2,456,C85\n")

    for uri in (str(source), f"file://{source}"):
        frame = read_passenger_csv(uri, StorageConfig())
        assert frame["Ticket"].tolist() == ["0123", "456"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda folder: folder / "missing.csv", "no such file"),
        (lambda folder: folder, "not a regular file"),
        (
            lambda folder: (folder / "empty.csv").touch() or folder / "empty.csv",
            "the file is empty",
        ),
    ],
)
def test_an_unreadable_local_file_is_one_line(tmp_path, make, reason):
    source = make(tmp_path)
    with pytest.raises(DataSourceError) as refused:
        read_passenger_csv(str(source), StorageConfig())
    assert str(refused.value) == f"cannot read data_uri {source}: {reason}"
    with pytest.raises(DataSourceError, match=f"cannot read input_uri {source}"):
        list(iter_passenger_csv(str(source), StorageConfig(), chunk_rows=10))


def test_outputs_go_to_new_local_folders_and_never_to_a_url(tmp_path):
    target = tmp_path / "new" / "folder" / "out.csv"
    with open_output(str(target), StorageConfig()) as sink:
        sink.write("row\n0\n")
    assert target.read_text() == "row\n0\n"

    with (
        pytest.raises(DataSourceError) as refused,
        open_output("https://example.org/out.csv", StorageConfig()),
    ):
        pass
    assert str(refused.value) == (
        "cannot write https://example.org/out.csv: write to a local path or s3://"
    )
