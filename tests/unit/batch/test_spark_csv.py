"""How the Spark engine reads a CSV as pandas does: the parts that need no Spark."""

from __future__ import annotations

import pytest
from pandas._libs.parsers import STR_NA_VALUES

from titanic_model.batch.spark import PANDAS_NA_VALUES, line_separator


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"PassengerId,Name\n1,A\r\n", "\n"),
        (b"\xef\xbb\xbfPassengerId,Name\r\n1,A\n", "\r\n"),
        (b"PassengerId,Name\r1,A\r", "\r"),
        # A line break inside a quoted header name belongs to the name.
        (b'"Passenger\r\nId",Name\r\n', "\r\n"),
        (b'"Passenger ""Id""\n",Name\r1', "\r"),
        # Not enough of the file to tell.
        (b"PassengerId,Name\r", None),
        (b"PassengerId,Name", None),
        (b'"PassengerId\n', None),
        (b"", None),
    ],
)
def test_the_line_break_is_the_one_that_ends_the_header(head, expected):
    assert line_separator(head) == expected


def test_the_missing_value_markers_are_pandas_own():
    # pandas' read_csv default (a private set, read here to notice when pandas changes it).
    assert set(PANDAS_NA_VALUES) == STR_NA_VALUES
    assert len(PANDAS_NA_VALUES) == len(STR_NA_VALUES)
