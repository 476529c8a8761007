"""The jobs: one function per MLproject entry point, each taking its typed config.

A job does its work inside the active MLflow run (the CLI opens it; a test may open its own)
and returns what it made. Jobs are where the pure core meets MLflow and the data: they read
and log through :mod:`titanic_model.io.runs`, :mod:`titanic_model.io.registry` and
:mod:`titanic_model.io.data`, and name things with :mod:`titanic_model.names`.
"""
