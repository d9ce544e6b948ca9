"""Synthetic data for the ``whylens demo`` story (see :mod:`sdk.demo.shop`).

Nothing here describes real people: every name, address and event is generated.
"""
