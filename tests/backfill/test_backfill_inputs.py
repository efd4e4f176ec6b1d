"""Reading backfill inputs: every line is accounted for, bad lines become error items."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.backfill import BackfillInputError, read_code_inputs, read_names
from detector.backfill.inputs import Item, fingerprint, partition


def test_text_file_one_name_per_line_keeps_blank_lines_as_rows(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_text("requests\n\n  numpy  \r\nflask\n", encoding="utf-8")
    items = read_names(path)
    assert [(i.line, i.value, i.error) for i in items] == [
        (1, "requests", None), (2, "", None), (3, "numpy", None), (4, "flask", None)
    ]


def test_tsv_gz_uses_the_name_column(tmp_path: Path) -> None:
    path = tmp_path / "names.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("rank\tname\tlatest\n1\tboto3\t1.0\n\tpip\t24\n3\n")
    items = read_names(path)
    assert [i.value for i in items] == ["boto3", "pip", ""]
    assert [i.line for i in items] == [2, 3, 4]


def test_non_utf8_line_becomes_an_error_item(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes(b"good\nbad\xff\xfename\nalso-good\n")
    items = read_names(path)
    assert len(items) == 3
    assert items[0].error is None and items[2].error is None
    assert items[1].error == "line 2: not valid UTF-8"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.txt", "no such file"),
        (lambda d: d, "is a directory"),
    ],
)
def test_unreadable_name_inputs_raise(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(BackfillInputError, match=message):
        read_names(make(tmp_path))


def test_tab_separated_lines_without_name_header_are_rows(tmp_path: Path) -> None:
    path = tmp_path / "list.tsv"
    path.write_text("rank\tproject\n1\tx\n", encoding="utf-8")
    assert [(i.line, i.value) for i in read_names(path)] == [(1, "rank\tproject"), (2, "1\tx")]


def test_rows_match_what_check_name_file_reads(tmp_path: Path) -> None:
    from detector.names.inputs import read_names as check_name_reader

    path = tmp_path / "names.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("name\trank\nboto3\t1\n\n  pip \t2\nonly\n")
    assert [i.value for i in read_names(path)] == list(check_name_reader(str(path)))


def test_truncated_gzip_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "names.txt.gz"
    path.write_bytes(gzip.compress(b"a\nb\n" * 1000)[:40])
    with pytest.raises(BackfillInputError, match=r"names\.txt\.gz"):
        read_names(path)


def test_code_inputs_from_a_tree_are_sorted_archives(tmp_path: Path) -> None:
    for rel in ("b/pkg-1.0.tar.gz", "a/pkg-2.0-py3-none-any.whl", "a/notes.txt", "c/x.zip"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    items = read_code_inputs(tmp_path)
    assert [Path(i.value).relative_to(tmp_path).as_posix() for i in items] == [
        "a/pkg-2.0-py3-none-any.whl", "b/pkg-1.0.tar.gz", "c/x.zip"
    ]


def test_code_listing_resolves_relative_paths_and_keeps_missing_ones(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# archives\nsub/a.tar.gz\n\n/abs/b.whl\n", encoding="utf-8")
    items = read_code_inputs(listing)
    assert [i.value for i in items] == [str(tmp_path / "sub/a.tar.gz"), "/abs/b.whl"]
    assert [i.line for i in items] == [2, 4]


def test_code_input_that_is_an_archive_is_bad_usage(tmp_path: Path) -> None:
    path = tmp_path / "one.tar.gz"
    path.write_bytes(b"")
    with pytest.raises(BackfillInputError, match="is an archive"):
        read_code_inputs(path)


@given(n=st.integers(min_value=0, max_value=300), size=st.integers(min_value=1, max_value=50))
def test_partitions_cover_every_item_once_in_order(n: int, size: int) -> None:
    items = [Item(i + 1, f"n{i}") for i in range(n)]
    parts = partition(items, size)
    flat = [item for part in parts for item in part.items]
    assert flat == items
    assert all(1 <= len(p.items) <= size for p in parts)
    assert [p.index for p in parts] == list(range(len(parts)))


def test_fingerprint_changes_with_the_input() -> None:
    a = [Item(1, "x"), Item(2, "y")]
    assert fingerprint(a) == fingerprint(list(a))
    assert fingerprint(a) != fingerprint([Item(1, "x"), Item(2, "z")])
