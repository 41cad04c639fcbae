"""Table schema: what each column is and how it comes back out."""

from lookalike.schema.infer import infer
from lookalike.schema.spec import KINDS, ColumnSpec, Schema

__all__ = ["KINDS", "ColumnSpec", "Schema", "infer"]
