"""The PostgreSQL backend (``whylens[postgres]``): many processes and hosts, one database.

Nothing here imports the driver at module import time; :func:`~.connect.require_driver` fails
with the install hint when the extra is missing.
"""

from .connect import PgTarget, is_postgres_url, parse_url, require_driver

__all__ = ["PgTarget", "is_postgres_url", "parse_url", "require_driver"]
