"""One module per schema revision: ``0001`` is schema version 1 (the first release)."""
