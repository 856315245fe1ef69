"""The machinery that runs any cell: time loop, layers, directions, packing, dropout, and
the cell-agnostic regularisers (zoneout, recurrent dropout, weight drop)."""

from rnnx.recurrence.masks import sample_offset
from rnnx.recurrence.regularize import drop_weight, recurrent_dropout_mask, zoneout_masks
from rnnx.recurrence.scan import ScanFn, scan
from rnnx.recurrence.stack import run_stack

__all__ = ["ScanFn", "drop_weight", "recurrent_dropout_mask", "run_stack", "sample_offset", "scan", "zoneout_masks"]
