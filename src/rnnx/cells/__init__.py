"""Cell equations: one time step of each recurrent cell, independent of the time loop."""

from rnnx.cells.base import CellStep, DirectionWeights, State
from rnnx.cells.elman import NONLINEARITIES, ElmanStep
from rnnx.cells.gru import GRUStep
from rnnx.cells.lstm import LSTMStep

__all__ = [
    "NONLINEARITIES",
    "CellStep",
    "DirectionWeights",
    "ElmanStep",
    "GRUStep",
    "LSTMStep",
    "State",
]
