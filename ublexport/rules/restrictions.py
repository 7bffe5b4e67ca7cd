"""EN 16931 UBL syntax binding rules UBL-CR-* (UBL elements the EN 16931 core does not use), from the CEN Schematron."""

from __future__ import annotations
