"""The tracking server's request filter: MLflow's basic-auth app behind the project's own rules.

``mlflow server --app-name titanic-basic-auth`` (``deployment/stack.sh``) runs
:func:`~titanic_model.tracking_server.app.create_app`: MLflow's basic-auth app wrapped in one
ASGI middleware that sees every request first. What it refuses, and why, is decided in
:mod:`titanic_model.tracking_server.rules` (pure, no I/O); :mod:`~titanic_model.tracking_server.app`
only reads the request, asks MLflow's user store who is calling, and answers or passes on
(docs/deployment.md, "Who may do what").
"""
