"""Fixtures for the business rule tests (helpers live in tests/rules/helpers.py)."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.rules.helpers import load


@pytest.fixture
def base() -> etree._Element:
    """A fresh, mutable copy of peppol-3.0.21/base-example.xml."""
    return load()
