"""What MLproject's entry points run: ``python -m entrypoints <job> --<parameter> <value> …``.

A shim: the command line is :mod:`titanic_model.cli`, the jobs are :mod:`titanic_model.jobs`.
"""
