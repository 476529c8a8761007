"""The MLproject entry points: the thin shell that parses parameters and talks to MLflow."""
