"""The textbook claims, measured: one module per claim (``speed``, ``memory``, ``gradients``,
``normalisation``, ``gru_lstm``, ``attention``, ``dropout``), each with a ``measure`` function that
runs the experiment and a pure ``verdict`` function of its numbers (:mod:`rnnx.claims.base`);
:mod:`rnnx.claims.runner` runs them for ``rnnx claims``. See ``docs/claims.md``.
"""
