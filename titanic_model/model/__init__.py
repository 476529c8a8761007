"""The model's code: all that a registered version ships as code, with :mod:`titanic_model.names`.

The input schema, the features, the forest, the pipeline, the prediction function and the
pyfunc adapter. It imports nothing else of the project, so that a version loads with its own
code wherever it goes (an import-linter contract in ``make lint`` holds it).
"""
