"""Looking inside recurrent layers: step-by-step traces of gates and states
(:func:`rnnx.trace`), the flow of gradients through time (:func:`rnnx.gradient_flow`), and
plots of both (:mod:`rnnx.inspection.plots`, needs matplotlib)."""

from rnnx.inspection.gradients import DirectionFlow, GradientFlow, gradient_flow
from rnnx.inspection.records import CallTrace, DirectionTrace
from rnnx.inspection.trace import Trace, trace

__all__ = ["CallTrace", "DirectionFlow", "DirectionTrace", "GradientFlow", "Trace", "gradient_flow", "trace"]
