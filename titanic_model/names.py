"""Every name this project gives things in MLflow, spelt once.

Runs, their tags, parameters and metrics, artifacts, datasets, registered-version tags and
the alias are named here and nowhere else, so a job that writes a name and a job that reads
it cannot disagree. Names built from a variable part (``cv_<metric>_mean``) are functions.
The names users choose from (the candidate classifiers, the CV and holdout metrics) are here
too: they are parameter values, and the stems of metric names.

Scripts outside the repository rely on these names (README, "Contracts"): change one and you
break them.
"""

from __future__ import annotations

# ---------------------------------------------------------------- what users choose from

#: The candidate classifiers a grid search can compare (parameter ``candidates``).
CANDIDATES: tuple[str, ...] = ("random_forest", "hist_gradient_boosting", "logistic_regression")
#: Cross-validation metrics (parameter ``refit_metric`` picks one).
CV_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: Holdout metrics (parameter ``gate_metric`` picks one), each with whether larger is better.
HOLDOUT_METRICS: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "brier_score": False,
}
#: What nested cross-validation reports per outer fold.
NESTED_CV_METRICS: tuple[str, ...] = ("accuracy", "roc_auc", "brier_score")
#: The baselines every evaluation compares the model with.
WOMEN_SURVIVE_BASELINE = "women_survive"
MAJORITY_CLASS_BASELINE = "majority_class"

# ---------------------------------------------------------------- registry

#: The registered model, unless ``model_name`` says otherwise.
MODEL_NAME = "titanic"
#: The experiment every training run on the shared tracking server writes into (the Argo
#: workflow's too, its runs named after the workflow): the one the readers are granted.
TRAINING_EXPERIMENT = "titanic"
#: The alias of the version in production, moved only through the gate (or ``promote``).
CHAMPION_ALIAS = "champion"
#: The alias of a version that passed the gate to be tried in shadow on live traffic first
#: (``promote_to=challenger``); ``promote`` moves champion to it (and leaves it there).
CHALLENGER_ALIAS = "challenger"
#: The aliases the gate can give (parameter ``promote_to``).
GATE_ALIASES: tuple[str, ...] = (CHAMPION_ALIAS, CHALLENGER_ALIAS)
#: The scheme of registry URIs.
REGISTRY_SCHEME = "models:/"


def version_model_uri(model_name: str, version: str | int) -> str:
    """``models:/<name>/<version>``: one registered version, whatever its aliases do."""
    return f"{REGISTRY_SCHEME}{model_name}/{version}"


def alias_model_uri(model_name: str, alias: str) -> str:
    """``models:/<name>@<alias>``: the version an alias points at when it is resolved."""
    return f"{REGISTRY_SCHEME}{model_name}@{alias}"


def run_model_uri(run_id: str) -> str:
    """``runs:/<run id>/model``: the model a run logged, registered or not."""
    return f"runs:/{run_id}/{MODEL_ARTIFACT}"


#: The champion's URI: what servers and batch scoring load by default.
CHAMPION_URI = alias_model_uri(MODEL_NAME, CHAMPION_ALIAS)

# Tags of a registered version (besides PREPARE_RUN_TAG and split_digest_tag's, which
# the version shares with the runs it comes from).
VERSION_GIT_COMMIT_TAG = "git_commit"
HOLDOUT_ACCURACY_TAG = "holdout_accuracy"
#: The digest of a version's files (``sha256:<hex>`` of its manifest): what every loader
#: checks before it runs any of them, and what a release pins in Git (``MODEL_DIGEST``).
MODEL_DIGEST_TAG = "model_digest"
#: The manifest itself, ``{path: sha256}`` as JSON: names the file that differs.
MODEL_MANIFEST_TAG = "model_manifest"
#: The gate's verdict on a version, written before any alias moves: ``approved`` (it may
#: take its alias), ``rejected`` (kept out by the gate) or ``failed`` (a step failed: its
#: alias did not move).
APPROVAL_TAG = "approval"
APPROVED = "approved"
REJECTED = "rejected"
FAILED = "failed"
#: The gate's decision about the version, in words (as the evaluate run's champion_decision).
GATE_DECISION_TAG = "gate_decision"


def gate_lock_model(model_name: str) -> str:
    """The registered model whose existence is the gate's lock on ``model_name``'s aliases.

    Creating a registered model is the one registry call that fails when another caller got
    there first, so gates take turns through it (on any store and server).
    """
    return f"{model_name}-gate-lock"


def gated_model(lock_model: str) -> str | None:
    """The registered model whose gate ``lock_model`` is the lock of, or None for another name."""
    gated = lock_model.removesuffix(gate_lock_model(""))
    return gated if gated and gate_lock_model(gated) == lock_model else None


def cv_score_tag(refit_metric: str) -> str:
    """Version tag holding the chosen grid point's mean CV score on the refit metric."""
    return f"cv_{refit_metric}"


# ---------------------------------------------------------------- monitoring

#: The experiment of the monitoring runs, unless ``experiment_name`` says otherwise.
MONITORING_EXPERIMENT = "titanic-monitoring"
#: Monitoring-run tag: the fields that drifted, comma-separated ("" when none).
DRIFT_FIELDS_TAG = "drift_fields"
#: Monitoring-run tag: "true" when the predictions themselves drifted from the holdout's.
PREDICTION_DRIFT_TAG = "prediction_drift"
#: Monitoring-run tags: the registered version monitored (the latest one in the window).
MONITORED_MODEL_TAG = "model_name"
MONITORED_VERSION_TAG = "model_version"
#: Tags a monitoring run sets on each version it saw: its latest status.
MONITORING_RUN_VERSION_TAG = "monitoring_run_id"
MONITORING_TIME_VERSION_TAG = "monitoring_time"
MONITORING_DRIFT_VERSION_TAG = "monitoring_drift_fields"
MONITORING_LIVE_ACCURACY_VERSION_TAG = "monitoring_live_accuracy"
#: Project-run tag pointing at the monitoring run (when it is nested in another experiment).
MONITORING_RUN_TAG = "monitoring_run_id"
#: Monitoring-run metrics.
REQUESTS_METRIC = "requests"
REQUESTS_REFUSED_METRIC = "requests_refused"
REJECTION_RATE_METRIC = "rejection_rate"
LOG_LINES_METRIC = "log_lines"
LOG_LINES_CORRUPT_METRIC = "log_lines_corrupt"
LIVE_ROWS_METRIC = "live_rows"
LABELS_UNKNOWN_IDS_METRIC = "labels_unknown_ids"
PREDICTIONS_UNLABELLED_METRIC = "predictions_unlabelled"
#: The live-quality metrics (``live_<metric>``, their intervals ``live_<metric>_ci_<bound>``).
LIVE_METRICS: tuple[str, ...] = ("accuracy", "roc_auc", "brier_score")


def drift_metric(statistic: str, field: str) -> str:
    """``drift_psi_<field>``, ``drift_p_value_<field>``, ``drift_missing_share_change_<field>``."""
    return f"drift_{statistic}_{field}"


def prediction_metric(statistic: str, source: str) -> str:
    """``<source>_positive_rate`` / ``<source>_mean_probability``: ``served`` or ``holdout``."""
    return f"{source}_{statistic}"


def live_metric(metric: str, bound: str | None = None) -> str:
    """``live_<metric>``, or the bound (``low``, ``high``) of its 95 % interval."""
    return f"live_{metric}" if bound is None else f"live_{metric}_ci_{bound}"


def rejected_records_metric(field: str) -> str:
    """Monitoring-run metric: records refused for breaking a rule of ``field``."""
    return f"rejected_records_{field}"


# ---------------------------------------------------------------- champion and challenger

#: Compare-run tags: the two versions compared, as the prediction log names them (the served
#: one answered clients; the shadow one scored the same records off the request path).
SERVED_MODEL_NAME_TAG = "served_model_name"
SERVED_MODEL_VERSION_TAG = "served_model_version"
SHADOW_MODEL_NAME_TAG = "shadow_model_name"
SHADOW_MODEL_VERSION_TAG = "shadow_model_version"
#: Compare-run tag: what the comparison says to do, by its stated rule (docs/monitoring.md).
DECISION_TAG = "decision"
PROMOTE_DECISION = "promote"
KEEP_DECISION = "keep"
INSUFFICIENT_LABELS_DECISION = "insufficient_labels"
#: Compare-run metrics.
PAIRS_METRIC = "pairs"
AGREEMENT_RATE_METRIC = "agreement_rate"
LABELLED_PAIRS_METRIC = "labelled_pairs"
LIVE_ACCURACY_SERVED_METRIC = "live_accuracy_served"
LIVE_ACCURACY_SHADOW_METRIC = "live_accuracy_shadow"
ACCURACY_GAIN_METRIC = "accuracy_gain"
ACCURACY_GAIN_CI_LOW_METRIC = "accuracy_gain_ci_low"
ACCURACY_GAIN_CI_HIGH_METRIC = "accuracy_gain_ci_high"
MCNEMAR_P_VALUE_METRIC = "mcnemar_p_value"
#: Labelled pairs only the served version answered right, and only the shadow one did.
SERVED_ONLY_CORRECT_METRIC = "served_only_correct"
SHADOW_ONLY_CORRECT_METRIC = "shadow_only_correct"
#: Tag of a version ``promote`` made champion, and of its run: the compare run that decided.
COMPARISON_RUN_TAG = "comparison_run_id"

# ---------------------------------------------------------------- human review

#: request_labels-run metrics: scored records in the window, tasks created this run, and all
#: tasks in the Label Studio project after it (also a collect_labels-run metric).
TASKS_CREATED_METRIC = "tasks_created"
TASKS_METRIC = "tasks"
#: collect_labels-run metrics: tasks with at least one annotation, labels written, tasks left
#: out (every answer skipped, fewer answers than min_annotations, a tie), how often two
#: reviewers of a task agree, and how often a reviewer kept the model's answer.
TASKS_ANNOTATED_METRIC = "tasks_annotated"
LABELS_WRITTEN_METRIC = "labels_written"
TASKS_SKIPPED_METRIC = "tasks_skipped"
TASKS_TOO_FEW_ANSWERS_METRIC = "tasks_too_few_answers"
TASKS_TIED_METRIC = "tasks_tied"
REVIEWER_AGREEMENT_METRIC = "reviewer_agreement"
MODEL_AGREEMENT_METRIC = "model_agreement"
#: Tag of both runs: the Label Studio project's id (its title is the parameter ``project``).
LABEL_STUDIO_PROJECT_TAG = "label_studio_project_id"

# ---------------------------------------------------------------- runs

PREPARE_RUN = "prepare"
TRAIN_RUN = "train"
EVALUATE_RUN = "evaluate"
MONITOR_RUN = "monitor"
COMPARE_RUN = "compare"


def grid_point_run(index: int) -> str:
    """Name of the nested run of a train run's ``index``-th grid point."""
    return f"grid-{index:02d}"


# Tags of runs (``PREPARE_RUN_TAG`` also tags registered versions).
PREPARE_RUN_TAG = "prepare_run_id"
DATA_URI_TAG = "data_uri"
MODEL_URI_TAG = "model_uri"
CHAMPION_DECISION_TAG = "champion_decision"
CHAMPION_BEFORE_TAG = "champion_version_before"
BEST_OF_EXPERIMENT_TAG = "best_of_experiment"
BEST_OF_RUN_NAME_TAG = "best_of_run_name"
INPUT_URI_TAG = "input_uri"
OUTPUT_URI_TAG = "output_uri"
REJECTS_URI_TAG = "rejects_uri"
#: Predict-run tag (engine=spark): the Spark master that scored, e.g. ``local[2]``.
SPARK_MASTER_TAG = "spark_master"
# MLflow's own tags, read to trace lineage.
MLFLOW_GIT_COMMIT_TAG = "mlflow.source.git.commit"
MLFLOW_PARENT_RUN_TAG = "mlflow.parentRunId"
MLFLOW_RUN_NAME_TAG = "mlflow.runName"
# MLflow's UI opens an experiment of this kind on its runs and charts (not on GenAI traces).
MLFLOW_EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_DEVELOPMENT_KIND = "custom_model_development"


def split_digest_tag(split: str) -> str:
    """Tag of a split's dataset digest, on the prepare run and on the versions trained on it."""
    return f"{split}_digest"


def rank_tag(refit_metric: str) -> str:
    """Grid-point run tag holding its rank on the refit metric (1 is best)."""
    return f"rank_{refit_metric}"


# Parameters (besides the jobs' own, named by titanic_model.config).
CANDIDATE_PARAM = "model"


def best_param(name: str) -> str:
    """Train-run parameter holding the chosen grid point's value of ``name``."""
    return f"best_{name}"


def is_best_param(key: str) -> bool:
    """Whether a train-run parameter is one of :func:`best_param`'s."""
    return key.startswith("best_")


def from_best_param(key: str) -> str:
    """The hyper-parameter a :func:`best_param` key is about."""
    return key.removeprefix("best_")


# ---------------------------------------------------------------- metrics

ROWS_METRIC = "rows"
ROWS_TOTAL_METRIC = "rows_total"
ROWS_SCORED_METRIC = "rows_scored"
ROWS_REJECTED_METRIC = "rows_rejected"


def rows_metric(split: str) -> str:
    """Prepare-run metric: rows read (``raw``) or in a split."""
    return f"rows_{split}"


def cv_metric(metric: str, statistic: str) -> str:
    """``cv_<metric>_mean`` or ``cv_<metric>_std`` over the folds of a grid point."""
    return f"cv_{metric}_{statistic}"


def is_cv_metric(key: str) -> bool:
    """Whether a metric key is one of :func:`cv_metric`'s."""
    return key.startswith("cv_")


def nested_cv_metric(metric: str, statistic: str) -> str:
    """``nested_cv_<metric>_<mean|std>`` over the outer folds of nested cross-validation."""
    return f"nested_cv_{metric}_{statistic}"


def holdout_metric(metric: str) -> str:
    """Evaluate-run metric: the model's score on the holdout."""
    return f"holdout_{metric}"


def baseline_metric(baseline: str, metric: str) -> str:
    """Evaluate-run metric: a baseline's score on the holdout."""
    return f"baseline_{baseline}_{metric}"


def champion_metric(metric: str) -> str:
    """Evaluate-run metric: the champion's score on the same holdout, when it was compared."""
    return f"champion_{metric}"


def importance_metric(column: str) -> str:
    """Evaluate-run metric: a raw column's permutation importance."""
    return f"importance_{column}"


# ---------------------------------------------------------------- artifacts and datasets

#: What prepare read, before the split (as in ``rows_raw``).
RAW_DATA = "raw"
TRAIN_SPLIT = "train"
HOLDOUT_SPLIT = "holdout"
SPLITS_DIR = "splits"
MODEL_ARTIFACT = "model"
#: The fitted pipeline's key among the pyfunc model's artifacts.
PIPELINE_ARTIFACT = "pipeline"
#: The model's output columns (its signature's), and batch scoring's row number.
SURVIVED_COLUMN = "survived"
PROBABILITY_COLUMN = "probability"
#: With ``invalid_rows=reason``: the rule a bad row broke ("" for a scored row).
REASON_COLUMN = "reason"
#: Batch outputs: the row's position in the input.
ROW_COLUMN = "row"
#: The key of the input schema in the logged model's metadata (``MLmodel``).
INPUT_SCHEMA_METADATA = "input_schema"
#: The model's inference parameter (signature ``params``) for what becomes of invalid rows:
#: refused, the whole request with them (the default, as over HTTP), or each answered with
#: the rule it broke in a ``reason`` column (batch scoring on Spark).
INVALID_ROWS_PARAM = "invalid_rows"
REFUSE_INVALID_ROWS = "refuse"
REASON_FOR_INVALID_ROWS = "reason"
IMPORTANCE_ARTIFACT = "importance.csv"
MODEL_CARD_ARTIFACT = "model_card.md"
NESTED_CV_FOLDS_ARTIFACT = "nested_cv_folds.csv"
MONITORING_REPORT_ARTIFACT = "monitoring_report.html"
DRIFT_TABLE_ARTIFACT = "drift.csv"
PLOTS_DIR = "plots"
CONFUSION_MATRIX_PLOT = "confusion_matrix.png"
ROC_CURVE_PLOT = "roc_curve.png"
PRECISION_RECALL_PLOT = "precision_recall_curve.png"
CALIBRATION_PLOT = "calibration.png"
IMPORTANCE_PLOT = "permutation_importance.png"


def split_artifact(split: str) -> str:
    """Artifact path of a split in its prepare run."""
    return f"{SPLITS_DIR}/{split}.csv"


def plot_artifact(file_name: str) -> str:
    """Artifact path of a plot."""
    return f"{PLOTS_DIR}/{file_name}"


# Datasets logged as run inputs: their names, then their roles (contexts).
PASSENGERS_DATASET = "passengers"
TRAINING_CONTEXT = "training"
EVALUATION_CONTEXT = "evaluation"
CROSS_VALIDATION_CONTEXT = "cross-validation"
