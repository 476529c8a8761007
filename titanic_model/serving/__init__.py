"""The serving layer: MLflow's own scoring app, operated.

``python -m titanic_model.serving`` (``make serve``, ``make web``, the image) serves a
registered model with MLflow's scoring app (:func:`mlflow.pyfunc.scoring_server.init`, what
``mlflow models serve`` runs: the same ``/invocations`` contract and payload forms) wrapped in
one pure ASGI middleware that adds what operating it needs: request ids, a body size limit,
one-line errors and no 5xx for anything a client sends, Prometheus metrics on ``/metrics``
and a prediction log (JSON Lines, written off the request path).
"""
