"""CSV drop-folder reference backend: the agency's system exports CSV files into a folder;
the adapter indexes them by the configured identifier columns and reloads a category when
its files change (new, removed, or a different size or modification time).

Exports should be written under a temporary name and renamed into place, so the adapter
never reads half a file.
"""

from __future__ import annotations

import csv
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mash_common.contracts import AgencyRecord, SubjectIdentifiers
from mash_sdk.errors import TransientError
from mash_sdk.reference.config import CsvBackend, CsvSource
from mash_sdk.reference.handler import identifier_values

logger = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


def normalise(value: object, date_format: str = "%Y-%m-%d") -> str:
    """Identifiers compare without case or spaces ('EX1 1AA' == 'ex11aa'); dates as ISO."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return "".join(str(value).split()).casefold()


@dataclass
class _Index:
    signature: Signature = ()
    rows: dict[tuple[int, tuple[str, ...]], list[dict[str, Any]]] = field(default_factory=dict)


class CsvLookup:
    def __init__(self, config: CsvBackend) -> None:
        self.config = config
        self._indexes: dict[str, _Index] = {c: _Index() for c in config.categories}
        self._lock = threading.Lock()
        self.loads = 0  # how many times a category was (re)loaded; for operators and tests

    def close(self) -> None:
        pass

    def _files(self, source: CsvSource) -> list[Path]:
        return sorted(p for p in self.config.folder.glob(source.files) if p.is_file())

    def _signature(self, files: list[Path]) -> Signature:
        sig = []
        for path in files:
            try:
                st = path.stat()
            except FileNotFoundError:  # removed between glob and stat: next lookup sees it
                continue
            sig.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(sig)

    def _index(self, category: str, source: CsvSource) -> _Index:
        files = self._files(source)
        signature = self._signature(files)
        current = self._indexes[category]
        if signature == current.signature:
            return current
        fresh = _Index(signature=signature)
        for path in files:
            try:
                with path.open(newline="", encoding=self.config.encoding) as f:
                    for row in csv.DictReader(f, delimiter=self.config.delimiter):
                        self._add(fresh, source, row)
            except (OSError, csv.Error, UnicodeDecodeError) as exc:
                raise TransientError(f"{category}: cannot read an export ({type(exc).__name__})") from None
        self._indexes[category] = fresh
        self.loads += 1
        logger.info("csv %s: loaded %d file(s)", category, len(files))
        return fresh

    @staticmethod
    def _add(index: _Index, source: CsvSource, row: dict[str, Any]) -> None:
        for i, key in enumerate(source.keys):
            values = [row.get(source.columns[ident]) for ident in key]
            if any(v is None or str(v).strip() == "" for v in values):
                continue
            normalised = []
            for ident, value in zip(key, values, strict=True):
                if ident == "date_of_birth":
                    try:
                        value = datetime.strptime(str(value).strip(), source.identifier_date_format).date()
                    except ValueError:
                        break
                normalised.append(normalise(value))
            else:
                index.rows.setdefault((i, tuple(normalised)), []).append(row)

    def lookup(self, category: str, subject: SubjectIdentifiers) -> list[AgencyRecord]:
        source = self.config.categories.get(category)
        if source is None:
            return []
        with self._lock:
            index = self._index(category, source)
        identifiers = identifier_values(subject)
        seen: set[int] = set()
        records: list[AgencyRecord] = []
        for i, key in enumerate(source.keys):
            if any(identifiers[ident] is None for ident in key):
                continue
            for row in index.rows.get((i, tuple(normalise(identifiers[k]) for k in key)), []):
                if id(row) not in seen:
                    seen.add(id(row))
                    records.append(source.fields.to_record(category, row))
        return records
