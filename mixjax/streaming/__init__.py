"""Linear mixed models of data that does not fit in memory: ``mixjax.lmm(formula, data)`` with ``data`` a Parquet
file or directory, a ``pyarrow.dataset.Dataset`` or a Dask DataFrame sums the cross-products chunk by chunk
(``fit``), after a first pass that finds every level (``levels``); ``source(data, batch_rows=...)`` sets the chunk
size (``sources``). Needs the ``stream`` extra (pyarrow, dask), imported only when such data is given."""
from .fit import lmm
from .sources import DEFAULT_BATCH_ROWS, Source, is_source, source

__all__ = ["DEFAULT_BATCH_ROWS", "Source", "is_source", "lmm", "source"]
