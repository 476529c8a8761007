"""Titanic survival prediction: schema, features, pipeline and the MLflow pyfunc."""
