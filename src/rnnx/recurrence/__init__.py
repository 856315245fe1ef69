"""The machinery that runs any cell: time loop, layers, directions, packing, dropout."""

from rnnx.recurrence.scan import scan
from rnnx.recurrence.stack import run_stack

__all__ = ["run_stack", "scan"]
