"""Cell equations: one time step of each recurrent cell, independent of the time loop.

Subclass :class:`CellStep` to write a new cell; :class:`rnnx.Recurrent` runs it with every
layer option (layers, directions, packing, dropout, zoneout, recurrent dropout, weight drop).
"""

from rnnx.cells.base import CellStep, DirectionWeights, GateRecord, State, uniform_init
from rnnx.cells.elman import NONLINEARITIES, ElmanStep
from rnnx.cells.gru import GRUStep
from rnnx.cells.indrnn import IndRNNStep
from rnnx.cells.lstm import LSTMStep
from rnnx.cells.norm import layer_norm

__all__ = [
    "NONLINEARITIES",
    "CellStep",
    "DirectionWeights",
    "ElmanStep",
    "GRUStep",
    "GateRecord",
    "IndRNNStep",
    "LSTMStep",
    "State",
    "layer_norm",
    "uniform_init",
]
