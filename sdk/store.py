"""Where whylens keeps its data: re-exports of the storage seam for code written against 0.x.

The store itself is :mod:`sdk._store` (protocols in :mod:`sdk._store.abc`, the schema in
:mod:`sdk._store.schema`, one private package per backend). ``Database`` is the SQLite backend's
store class; ``Durability`` the commit modes every backend offers.
"""

from __future__ import annotations

from ._store._sqlite import SqliteStore as Database
from ._store._sqlite import check_database
from ._store.abc import Durability, Store, StoreTx
from ._store.version import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Database", "Durability", "Store", "StoreTx", "check_database"]
