"""Griffe extension: Sphinx roles in docstrings (``:class:`X```, ``:meth:`~a.b```) become inline
code, so the API reference reads as Markdown. The docstrings keep their Sphinx form for IDEs and
``help()``."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):`~?([^`]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(lambda m: f"`{m[1]}`", obj.docstring.value)
