"""Physical layouts of input tables, and detection of the MovieLens layout from a folder.

A `TableFormat` says how to cut a delimited file into the spec's columns
(delimiter, encoding, header, the file's own column order).  GroupLens ships
three layouts; which one a folder holds is decided by the files in it.
"""

from __future__ import annotations

import dataclasses
import os
import re

from apache_beam.io.filesystems import FileSystems

from stage_contracts.errors import InputError
from features.spec import FeatureSpec

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)


@dataclasses.dataclass(frozen=True)
class TableFormat:
    """How to read one delimited file.

    `file_columns` are the file's columns in order when it has no header
    (a spec's `source.header: false`: the spec's columns, in order); with a
    header they are taken from it.  A multi-character delimiter
    (MovieLens "::") is rewritten to a control character before parsing.
    """

    path: str
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    file_columns: tuple[str, ...] | None = None
    quoted: bool = True
    kind: str = "csv"  # or "parquet", or "bigquery" (path is then the table name)


@dataclasses.dataclass(frozen=True)
class SideFormat:
    """A side table (MovieLens movies) and how its genres are stored."""

    table: TableFormat
    genre_flags: tuple[str, ...] = ()  # ml-100k: one 0/1 column per genre instead of a genres column


@dataclasses.dataclass(frozen=True)
class InputLayout:
    """The main table files plus named side tables, as found on disk."""

    name: str
    main: tuple[TableFormat, ...]
    side_tables: dict[str, SideFormat]


def _exists(path: str) -> bool:
    return FileSystems.exists(path)


def _ml_latest(folder: str) -> InputLayout:
    join = FileSystems.join
    return InputLayout(name="ml-latest", main=(TableFormat(join(folder, "ratings.csv")),),
                       side_tables={"movies": SideFormat(TableFormat(join(folder, "movies.csv")))})


def detect_movielens(folder: str) -> InputLayout:
    """Recognise ml-latest / ml-25m / ml-32m, ml-1m / ml-10m and ml-100k by their files."""
    join = FileSystems.join
    if not _exists(folder):
        raise InputError(f"Input folder {folder} does not exist. Point --input at an unpacked MovieLens "
                         f"download (the folder holding ratings.csv, ratings.dat or u.data).")
    if _exists(join(folder, "ratings.csv")):
        return _ml_latest(folder)
    if _exists(join(folder, "ratings.dat")):
        dat = dict(delimiter="::", encoding="iso-8859-1", header=False, quoted=False)
        return InputLayout(
            name="ml-1m",
            main=(TableFormat(join(folder, "ratings.dat"), file_columns=("userId", "movieId", "rating", "timestamp"), **dat),),
            side_tables={"movies": SideFormat(TableFormat(
                join(folder, "movies.dat"), file_columns=("movieId", "title", "genres"), **dat))},
        )
    if _exists(join(folder, "u.data")):
        item_columns = ("movieId", "title", "release_date", "video_release_date", "imdb_url") + tuple(
            f"genre_{i}" for i in range(len(ML100K_GENRES)))
        return InputLayout(
            name="ml-100k",
            main=(TableFormat(join(folder, "u.data"), delimiter="\t", header=False, quoted=False,
                              file_columns=("userId", "movieId", "rating", "timestamp")),),
            side_tables={"movies": SideFormat(
                TableFormat(join(folder, "u.item"), delimiter="|", encoding="iso-8859-1", header=False,
                            quoted=False, file_columns=item_columns),
                genre_flags=ML100K_GENRES)},
        )
    listing = ", ".join(sorted(os.path.basename(m.path) for m in _list(folder))[:10]) or "nothing"
    raise InputError(
        f"Input folder {folder} is not a MovieLens download: expected ratings.csv (ml-latest, ml-25m, "
        f"ml-32m), ratings.dat (ml-1m, ml-10m) or u.data (ml-100k); found {listing}.")


def _list(folder: str) -> list:
    try:
        return FileSystems.match([FileSystems.join(folder, "*")])[0].metadata_list
    except Exception:  # noqa: BLE001 - a listing is only used to enrich an error message
        return []


def table_layout(spec: FeatureSpec, input_path: str, read: bool = True) -> InputLayout:
    """The layout for a spec: MovieLens folders are detected; CSV/Parquet paths may be globs or folders.

    `read=False` (an offline dry run, whose remote input may need credentials to list) looks at nothing: a
    MovieLens folder is taken to hold ml-latest's files, and a CSV/Parquet path stands for its files.
    """
    if spec.source.format == "movielens":
        return detect_movielens(input_path) if read else _ml_latest(input_path)
    kind = spec.source.format
    if kind == "bigquery":
        if not re.fullmatch(r"[\w.-]+[:.][\w-]+\.[\w$-]+", input_path):
            raise InputError(f"BigQuery input {input_path!r} is not a table name: give project:dataset.table "
                             f"(or project.dataset.table).")
        return InputLayout(name="bigquery", main=(TableFormat(input_path, kind="bigquery"),), side_tables={})
    pattern = input_path
    if not any(ch in input_path for ch in "*?[") and _is_folder(input_path):
        pattern = FileSystems.join(input_path, "*.parquet" if kind == "parquet" else "*.csv")
    matches = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list) if read else [pattern]
    if not matches:
        raise InputError(f"Input {input_path} matches no {kind} files (looked for {pattern}).")
    no_header = None if spec.source.header else tuple(c.name for c in spec.main_columns)  # columns in spec order
    main = tuple(TableFormat(path, delimiter=spec.source.delimiter, encoding=spec.source.encoding,
                             header=spec.source.header, file_columns=no_header, kind=kind) for path in matches)
    side: dict[str, SideFormat] = {}
    if spec.join and spec.join.path:
        side_path = spec.join.path
        if not os.path.isabs(side_path) and "://" not in side_path:
            side_path = os.path.join(os.path.dirname(os.path.abspath(spec.path)), side_path)
        side_kind = "parquet" if side_path.endswith(".parquet") else "csv"
        side["join"] = SideFormat(TableFormat(side_path, delimiter=spec.source.delimiter,
                                              encoding=spec.source.encoding, kind=side_kind))
    return InputLayout(name=kind, main=main, side_tables=side)


def _is_folder(path: str) -> bool:
    if "://" in path:
        return not path.endswith((".csv", ".parquet", ".txt"))
    return os.path.isdir(path)
