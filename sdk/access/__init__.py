"""Who may do what: bearer tokens with roles (kept on the ledger) and signed why-links.

Both are usable without the HTTP server: ``whylens tokens ...`` manages tokens from the CLI and
``p.links.why(subject)`` makes the link an application e-mails or shows to the person.
"""

from __future__ import annotations

from .links import WhyLink, WhyLinks
from .tokens import ROLES, AccessToken, AccessTokens, Role

__all__ = ["ROLES", "AccessToken", "AccessTokens", "Role", "WhyLink", "WhyLinks"]
