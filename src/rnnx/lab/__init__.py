"""The lab: train and compare recurrent networks (and a Transformer and a ConvNet baseline) on
built-in tasks or your own data.

- :mod:`rnnx.lab.tasks`: a registry of tasks, each with a metric, a trivial baseline and seeded data.
- :mod:`rnnx.lab.models`: ``build_model(spec, task, ...)``, the one place model strings are parsed.
- :mod:`rnnx.lab.train`: ``train(TrainConfig(...))`` with checkpoints, exact resume and DDP; its
  epochs are :mod:`rnnx.lab.loop`'s, its data parallelism :mod:`rnnx.lab.distributed`'s.
- :mod:`rnnx.lab.metrics`: free-running decoding scores of the encoder-decoders.
- :mod:`rnnx.lab.compare`: several models and seeds on one task, a table, ``results.json`` and plots.
- :mod:`rnnx.lab.outputs` and :mod:`rnnx.lab.checkpoint`: the directories the lab writes (only new,
  empty or its own ones; it removes only what it made) and checkpoints verified by SHA-256 when read.

Needs the ``lab`` extra (matplotlib, rich, scikit-learn) for plots, progress bars and ``digits``.
"""
