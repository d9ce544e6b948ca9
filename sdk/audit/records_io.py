"""Writing and reading the records file of an export as JSON Lines, CSV or Parquet.

Parquet needs ``pyarrow`` (the ``parquet`` extra), imported only when a Parquet export is
written or verified.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .columns import COLUMNS, FLOATS, INTS, cell

__all__ = ["RecordsWriter", "read_records"]

_BATCH = 5000
_MAX_CELL = 1 << 30  # a cell is one ledger body at most
_HINT = "Parquet exports need pyarrow: pip install 'whylens[parquet]'"


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigurationError(_HINT) from None
    return pa, pq


def _schema(pa: Any) -> Any:
    def kind(name: str) -> Any:
        if name in INTS:
            return pa.int64()
        if name in FLOATS:
            return pa.float64()
        return pa.string()

    return pa.schema([(name, kind(name)) for name in COLUMNS])


class RecordsWriter:
    """Streams rows (dicts with :data:`~sdk.audit.columns.COLUMNS`) into one file."""

    def __init__(self, path: Path, format: str) -> None:
        self._path = path
        self._format = format
        self._count = 0
        self._file: Any = None
        self._csv: Any = None
        self._batch: list[dict[str, Any]] = []
        self._parquet: Any = None
        if format == "parquet":
            self._pa, self._pq = _pyarrow()

    def _open(self) -> None:
        if self._format == "parquet":
            self._parquet = self._pq.ParquetWriter(str(self._path), _schema(self._pa))
        else:
            self._file = open(self._path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            if self._format == "csv":
                self._csv = csv.writer(self._file)
                self._csv.writerow(COLUMNS)

    def add(self, row: dict[str, Any]) -> None:
        """Append one row."""
        if self._file is None and self._parquet is None:
            self._open()
        self._count += 1
        if self._format == "jsonl":
            self._file.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        elif self._format == "csv":
            self._csv.writerow([cell(name, row[name]) for name in COLUMNS])
        else:
            self._batch.append(row)
            if len(self._batch) >= _BATCH:
                self._flush()

    def _flush(self) -> None:
        if self._batch:
            table = self._pa.Table.from_pylist(self._batch, schema=_schema(self._pa))
            self._parquet.write_table(table)
            self._batch = []

    def close(self) -> int:
        """Finish the file (an empty one, with its header or schema, if no rows) and return the
        number of rows written."""
        if self._file is None and self._parquet is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._open()
        if self._parquet is not None:
            self._flush()
            self._parquet.close()
        if self._file is not None:
            self._file.close()
        return self._count


def read_records(path: Path, format: str) -> Iterator[dict[str, Any]]:
    """The rows of a records file, as dicts (CSV values are text).

    A malformed file raises :class:`ValueError` naming the line (bad UTF-8, a line that is not a
    JSON object, a CSV row with cells missing or extra).
    """
    if format == "jsonl":
        with open(path, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                try:
                    row = json.loads(raw.decode("utf-8"))
                except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are both
                    raise ValueError(
                        f"line {number}: not a JSON line ({type(exc).__name__})"
                    ) from None
                if not isinstance(row, dict):
                    raise ValueError(f"line {number}: not a JSON object")
                yield row
    elif format == "csv":
        # the body cell of a large record (a recommendation of many items) is over the csv
        # module's default limit of 128 KiB; the limit is process-wide, so put it back after
        limit = csv.field_size_limit()
        csv.field_size_limit(max(limit, _MAX_CELL))
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            try:
                if tuple(reader.fieldnames or ()) != COLUMNS:
                    raise ValueError("line 1: unexpected CSV header")
                for row in reader:
                    if None in row:
                        raise ValueError(f"line {reader.line_num}: more cells than columns")
                    if any(value is None for value in row.values()):
                        raise ValueError(f"line {reader.line_num}: cells missing")
                    yield row
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ValueError(
                    f"line {reader.line_num + 1}: unreadable ({type(exc).__name__})"
                ) from None
            finally:
                csv.field_size_limit(limit)
    else:
        _, pq = _pyarrow()
        parquet = pq.ParquetFile(str(path))
        for batch in parquet.iter_batches(batch_size=_BATCH):
            yield from batch.to_pylist()
