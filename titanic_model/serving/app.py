"""Build a serving worker's app: resolve the model, load it, wrap MLflow's scoring app.

Imported by the launcher for one worker, or by each worker uvicorn spawns (through
:func:`create_app`) once the launcher has set ``PROMETHEUS_MULTIPROC_DIR`` and the config.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import cast

from titanic_model.errors import one_line
from titanic_model.io.registry import registered_version, version_uri
from titanic_model.prediction_log import SERVED, SHADOW
from titanic_model.serving.layer import ObservedModel, ServingLayer
from titanic_model.serving.log_writer import ModelIdentity, PredictionLog, open_sink
from titanic_model.serving.prometheus import ServingMetrics
from titanic_model.serving.settings import ServingConfig
from titanic_model.serving.shadow import STAGES, ShadowScorer

# How the launcher hands the parsed config to the workers uvicorn spawns.
CONFIG_VARIABLE = "TITANIC_SERVING_CONFIG"
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_logger = logging.getLogger(__name__)


def resolve_model(model_uri: str) -> tuple[ModelIdentity, str]:
    """Which registered version a URI means now, and a URI that always means that version.

    Args:
        model_uri: ``models:/name@alias``, ``models:/name/N``, or any other model URI.

    Returns:
        The model's identity (its run id is None here when the URI is not a registered
        version) and the URI to load: ``models:/name/N`` for a registered model, so that an
        alias moved while workers start cannot make them serve different versions.

    Raises:
        MlflowException: When the model, alias or version does not exist.
    """
    version = registered_version(model_uri)
    if version is None:
        return ModelIdentity(name="", version=None, run_id=None), model_uri
    return ModelIdentity(version.name, str(version.version), version.run_id), version_uri(version)


def _with_run_id(identity: ModelIdentity, model) -> ModelIdentity:
    """The identity, with the run id of the loaded model when the registry gave none."""
    if identity.run_id is not None:
        return identity
    return ModelIdentity(identity.name, identity.version, model.metadata.run_id)


def load_shadow(
    uri: str, digest: str | None, metrics: ServingMetrics, served: ModelIdentity
) -> ShadowScorer | None:
    """Load and verify the shadow as the served model is; one that fails serves nobody.

    The shadow must never stop the served model: whatever keeps it from loading (no such
    version, files that differ from their digest, an untrusted pipeline) is logged once,
    and every request it then does not score is counted with ``stage="load"``.

    Args:
        uri: ``TITANIC_SHADOW_MODEL_URI``.
        digest: ``TITANIC_SHADOW_MODEL_DIGEST``, or None for the version's own tag.
        metrics: This worker's metrics (``titanic_shadow_errors_total``, the model info).
        served: The served model's version.

    Returns:
        The scorer the prediction log's thread calls; None when the shadow is the served
        version itself (``challenger`` after ``promote``): there is nothing to compare.
    """
    from titanic_model.io.model_files import load_verified_model

    def failed(stage: str, requests: int) -> None:
        metrics.shadow_errors.labels(stage).inc(requests)

    for stage in STAGES:  # both series exist from the start, at 0
        metrics.shadow_errors.labels(stage)
    try:
        identity, load_uri = resolve_model(uri)
        same = (identity.name, identity.version) == (served.name, served.version)
        if identity.version is not None and same:
            _logger.warning("shadow model %s is the served version: no shadow", uri)
            return None
        model = load_verified_model(load_uri, digest)
    except Exception as error:
        reason = one_line(getattr(error, "message", None) or error)
        _logger.warning("shadow model %s not loaded, serving without it: %s", uri, reason)
        return ShadowScorer(None, None, failed)
    identity = _with_run_id(identity, model)
    metrics.model_info.labels(
        identity.name, identity.version or "", identity.run_id or "", SHADOW
    ).set(1)
    return ShadowScorer(model, identity, failed)


def build_app(config: ServingConfig, multiprocess_dir: str) -> ServingLayer:
    """Load the model (and the shadow, if any) and build this worker's app.

    Args:
        config: The serving settings.
        multiprocess_dir: prometheus_client's folder of this server's metrics.

    Returns:
        The app to serve.

    Raises:
        MlflowException: When the model cannot be resolved or loaded: its files differ from
            their digest (``TamperedModelError``), or its pipeline is untrusted.
    """
    from mlflow.pyfunc import PyFuncModel
    from mlflow.pyfunc.scoring_server import init

    from titanic_model.io.model_files import load_verified_model

    identity, load_uri = resolve_model(config.params.model_uri)
    model = load_verified_model(load_uri, config.pin.digest)
    identity = _with_run_id(identity, model)
    metrics = ServingMetrics(multiprocess_dir)
    metrics.model_info.labels(
        identity.name, identity.version or "", identity.run_id or "", SERVED
    ).set(1)
    shadow = None
    if config.shadow_model_uri:
        shadow = load_shadow(config.shadow_model_uri, config.shadow_digest, metrics, identity)
    sink = None
    if config.prediction_log:
        storage = config.storage
        sink = open_sink(config.prediction_log, storage.s3_endpoint_url, storage.s3_keys)
    prediction_log = PredictionLog(
        identity,
        sink,
        full_names=config.full_names,
        on_dropped=metrics.log_dropped.inc,
        observe=metrics.observe_predictions,
        shadow=shadow,
    )
    # The loaded model is tens of thousands of objects that live as long as the process. The
    # requests the log holds for its thread make the collector run full collections, which
    # walked all of them: 200 ms stalls every two seconds. Frozen, they are never walked.
    gc.freeze()
    return ServingLayer(
        # MLflow's app calls predict and reads metadata: ObservedModel has both.
        init(cast(PyFuncModel, ObservedModel(model))),
        metrics=metrics,
        prediction_log=prediction_log,
        max_body_bytes=config.max_body_bytes,
    )


def create_app() -> ServingLayer:
    """The app of a spawned worker: the launcher's config, from the environment."""
    config = ServingConfig.model_validate_json(os.environ[CONFIG_VARIABLE])
    return build_app(config, os.environ[MULTIPROCESS_VARIABLE])
