"""The lab: train and compare recurrent networks (and a Transformer and a ConvNet baseline) on
built-in tasks or your own data.

- :mod:`rnnx.lab.tasks`: a registry of tasks, each with a metric, a trivial baseline and seeded data.
- :mod:`rnnx.lab.models`: ``build_model(spec, task, ...)``, the one place model strings are parsed.
- :mod:`rnnx.lab.train`: ``train(TrainConfig(...))`` with checkpoints, exact resume and DDP.
- :mod:`rnnx.lab.compare`: several models and seeds on one task, a table, ``results.json`` and plots.

Needs the ``lab`` extra (matplotlib, rich, scikit-learn) for plots, progress bars and ``digits``.
"""
