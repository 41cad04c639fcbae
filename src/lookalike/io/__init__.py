"""Reading and writing tables: CSV, Parquet, folders of them, written atomically."""

from lookalike.io.tables import read_table, write_table, write_text_atomic

__all__ = ["read_table", "write_table", "write_text_atomic"]
