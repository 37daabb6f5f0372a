"""Sources of rows that need not fit in memory: a Parquet file or directory, a ``pyarrow.dataset.Dataset``, a Dask
DataFrame; each is read as pandas chunks of at most ``batch_rows`` rows.

A pass over the data is a map-reduce, ``map_reduce(source, columns, fn, combine)``: ``fn(chunk) -> partial`` on
each chunk (a pandas DataFrame of ``columns``), ``combine(a, b)`` of two partials (associative; the order of the
rows is kept: ``a``'s rows come first). A Parquet path is read file by file in this process (``ParquetFile.iter_batches``: one batch
in memory at a time), an Arrow dataset by its scanner (read-ahead kept small); a Dask DataFrame is mapped per partition (in chunks
of ``batch_rows``) and its partials are combined by a tree of ``dask.delayed`` calls, on Dask's workers. pyarrow and
dask are imported only here, and only when such data is given (the ``stream`` extra installs both).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

__all__ = ["DEFAULT_BATCH_ROWS", "Source", "is_source", "map_reduce", "source"]

DEFAULT_BATCH_ROWS = 1_000_000  # rows per chunk: ~ 100 MB of design arrays for a few columns


@dataclass(frozen=True)
class Source:
    """Rows to stream: ``data`` a ``pyarrow.dataset.Dataset`` of Parquet files found at a path (``kind ==
    "parquet"``, read file by file), a ``pyarrow.dataset.Dataset`` given as such (``"arrow"``, read by its
    scanner) or a Dask DataFrame (``"dask"``), in chunks of at most ``batch_rows`` rows; ``columns`` its column
    names."""

    data: object
    kind: str
    batch_rows: int = DEFAULT_BATCH_ROWS

    @property
    def columns(self) -> list[str]:
        return list(self.empty().columns)

    def empty(self) -> pd.DataFrame:
        """A frame of no rows with the data's columns and their pandas dtypes (read without reading rows)."""
        if self.kind in ("parquet", "arrow"):
            return _plain_text(self.data.schema.empty_table().to_pandas())
        return _plain_text(pd.DataFrame({c: pd.Series(dtype=t) for c, t in self.data.dtypes.items()}))


def _is_dask(data) -> bool:
    if "dask.dataframe" not in sys.modules:  # never imported: cannot be a Dask DataFrame
        return False
    import dask.dataframe as dd

    return isinstance(data, dd.DataFrame)


def _is_arrow_dataset(data) -> bool:
    if "pyarrow.dataset" not in sys.modules:
        return False
    import pyarrow.dataset as ds

    return isinstance(data, ds.Dataset)


def is_source(data) -> bool:
    """Whether ``data`` is streamed: a path (str or ``os.PathLike``), a ``pyarrow.dataset.Dataset``, a Dask
    DataFrame or a ``Source``."""
    return isinstance(data, (Source, str, os.PathLike)) or _is_arrow_dataset(data) or _is_dask(data)


def _arrow():
    try:
        import pyarrow.dataset as ds
    except ImportError:
        raise ValueError("reading Parquet needs pyarrow: pip install 'mixjax[stream]'.") from None
    return ds


def source(data, batch_rows: int | None = None) -> Source:
    """``data`` as a ``Source``: a Parquet file or a directory of Parquet files (str or path), a
    ``pyarrow.dataset.Dataset`` or a Dask DataFrame; ``batch_rows``: rows per chunk (default 1,000,000)."""
    if batch_rows is None:
        batch_rows = data.batch_rows if isinstance(data, Source) else DEFAULT_BATCH_ROWS
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be a positive number of rows, got {batch_rows!r}.")
    if isinstance(data, Source):
        return Source(data.data, data.kind, batch_rows)
    if _is_dask(data):
        return Source(data, "dask", batch_rows)
    if _is_arrow_dataset(data):
        return Source(data, "arrow", batch_rows)
    if not isinstance(data, (str, os.PathLike)):
        raise ValueError(f"data must be a pandas DataFrame, a Parquet path, a pyarrow Dataset or a Dask DataFrame, "
                         f"got {type(data).__name__}.")
    path = os.fspath(data)
    if not os.path.exists(path):
        raise ValueError(f"data {path!r}: no such file or directory (a Parquet file or a directory of Parquet files "
                         "was expected).")
    ds = _arrow()
    try:
        dataset = ds.dataset(path, format="parquet")
        dataset.schema  # noqa: B018 (reads the footer of a file: fails here when it is not Parquet)
    except Exception as err:  # pyarrow's ArrowInvalid and friends: not Parquet
        raise ValueError(f"data {path!r} is not a Parquet file or a directory of Parquet files: {err}") from None
    if not dataset.files:
        raise ValueError(f"data {path!r} holds no Parquet files.")
    return Source(dataset, "parquet", batch_rows)


def _plain_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns in pandas' default text dtype (``str``; Dask and Arrow may give ``string[pyarrow]`` with
    ``pd.NA``, which formulaic does not read as categories)."""
    text = [c for c, t in frame.dtypes.items() if isinstance(t, pd.StringDtype) and t.na_value is pd.NA]
    return frame.astype({c: "str" for c in text}) if text else frame


def _fold(chunks, fn: Callable, combine: Callable):
    """``combine`` of ``fn`` over the non-empty ``chunks``, in order (None when there are none)."""
    acc = None
    for chunk in chunks:
        if len(chunk):
            part = fn(_plain_text(chunk))
            acc = part if acc is None else combine(acc, part)
    return acc


def _slices(frame: pd.DataFrame, rows: int):
    return (frame.iloc[i : i + rows] for i in range(0, len(frame), rows))


def _partition(frame: pd.DataFrame, fn: Callable, combine: Callable, rows: int):
    return _fold(_slices(frame, rows), fn, combine)


def _either(combine: Callable):
    """``combine`` that passes over the empty partials (None) of empty partitions."""
    return lambda a, b: b if a is None else a if b is None else combine(a, b)


def _no_prebuffer(dataset) -> dict:
    """Parquet scan options that do not read whole files ahead (``pre_buffer=True``, pyarrow's default, held ~600 MB
    of Arrow buffers for 30M rows of 4 columns). The scanner still reads ahead of a slow consumer (~250 MB there),
    which is why a Parquet path is read file by file with ``ParquetFile.iter_batches`` instead (~80 MB)."""
    import pyarrow.dataset as ds

    if isinstance(dataset, ds.FileSystemDataset) and isinstance(dataset.format, ds.ParquetFileFormat):
        return {"fragment_scan_options": ds.ParquetFragmentScanOptions(pre_buffer=False)}
    return {}


def map_reduce(src: Source, columns: list[str], fn: Callable, combine: Callable):
    """``combine`` over the chunks of ``columns`` of ``fn`` (see the module docstring); None without rows."""
    if src.kind == "parquet":  # file by file, one row group's pages at a time
        import pyarrow.parquet as pq

        files = (pq.ParquetFile(f, filesystem=src.data.filesystem, pre_buffer=False) for f in src.data.files)
        batches = (b for f in files for b in f.iter_batches(batch_size=src.batch_rows, columns=list(columns)))
        return _fold((b.to_pandas() for b in batches), fn, combine)
    if src.kind == "arrow":
        batches = src.data.to_batches(columns=list(columns), batch_size=src.batch_rows, batch_readahead=1,
                                      fragment_readahead=1, **_no_prebuffer(src.data))
        return _fold((b.to_pandas() for b in batches), fn, combine)
    import dask

    both = _either(combine)
    partials = [dask.delayed(_partition)(part, fn, combine, src.batch_rows)
                for part in src.data[list(columns)].to_delayed()]
    while len(partials) > 1:  # a balanced tree, neighbours first (the rows keep their order)
        pairs = [dask.delayed(both)(a, b) for a, b in zip(partials[::2], partials[1::2])]
        partials = pairs + ([partials[-1]] if len(partials) % 2 else [])
    return dask.compute(partials[0])[0] if partials else None
