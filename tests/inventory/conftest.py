"""Inventory tests reuse the delivery tests' tenant-with-a-shop fixture."""

from tests.delivery.conftest import shop

__all__ = ["shop"]
