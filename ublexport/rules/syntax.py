"""EN 16931 UBL syntax binding rules UBL-SR-* (cardinalities) and UBL-DT-* (data types), from the CEN Schematron."""

from __future__ import annotations
