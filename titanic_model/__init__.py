"""Titanic survival prediction, from training to operating the served model.

The model's code is :mod:`titanic_model.model`; around it are training, evaluation,
monitoring, serving, batch scoring, the I/O shell and the jobs. Importing this package imports
nothing: a registered version ships this file, ``names.py`` and ``model/`` as its code.
"""
