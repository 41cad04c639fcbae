"""Column encoders and the table encoder (continuous and token views)."""

from lookalike.encoding.base import RARE_TOKEN, ColumnEncoder, Protection, Segment, TokenSlot
from lookalike.encoding.table import TableEncoder, sample_softmax_segments

__all__ = ["RARE_TOKEN", "ColumnEncoder", "Protection", "Segment", "TableEncoder", "TokenSlot",
           "sample_softmax_segments"]
