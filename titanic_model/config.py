"""The jobs' configurations: typed, frozen, parsed once at the edge from MLflow's parameters.

A job's parameters are the fields of its :class:`~titanic_model.parameters.Params` model below
(a job that runs others' steps inherits their configs): the one source of their names, defaults,
descriptions and rules (the CLI's options come from them; a test holds ``MLproject`` to them).
Its settings (:mod:`titanic_model.environment`) are read from the environment as it is parsed.
The config is passed down; nothing below the edge reads parameters or the environment.

The types the fields are made of live in :mod:`titanic_model.parameters`, and ``predict``'s
config beside the batch engines (:mod:`titanic_model.batch.predict_config`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from titanic_model import names
from titanic_model.environment import (
    DataSettings,
    LabelStudioSettings,
    PredictionLogStorage,
    StorageConfig,
)
from titanic_model.errors import ConfigError
from titanic_model.parameters import (
    EMPTY_IS_NONE,
    INTEGERS,
    Destination,
    Flag,
    Fraction,
    Grid,
    Integer,
    Integers,
    Location,
    Name,
    NonNegative,
    Numbers,
    OneOf,
    Params,
    Positive,
    Rule,
    Text,
    Window,
)

Seed = Annotated[NonNegative, Field(description="seed of the split, the CV folds and the models")]
ModelName = Annotated[
    str, Field(min_length=1, description="registered model"), Rule("a non-empty name")
]
#: The kustomize patch that pins the version production serves (``make release``).
RELEASE_PATCH = "deployment/kubernetes/release.yaml"
ReleasePatch = Annotated[str, Field(min_length=1), Rule("a file path")]


class DataConfig(Params):
    """Where the labelled passengers come from."""

    data_uri: Annotated[Location, AfterValidator(lambda uri: uri or DataSettings().data_uri)] = (
        Field("", validate_default=True)
    )
    """raw CSV: local path, https:// or s3://; empty: $TITANIC_DATA_URI, else the public copy"""
    storage: StorageConfig = Field(default_factory=StorageConfig)


class PrepareConfig(DataConfig):
    """``prepare``: where the passengers come from and how they are split."""

    test_fraction: Fraction = 0.2
    """stratified holdout share"""
    seed: Seed = 42


class SearchConfig(Params):
    """The grid search: the candidates, each one's grid, and the CV."""

    candidates: Annotated[
        Grid[Annotated[str, OneOf(names.CANDIDATES)]],
        Rule("a comma-separated list of " + ", ".join(names.CANDIDATES)),
    ] = names.CANDIDATES
    """classifiers competing in the grid search"""
    n_trees: Integers = (200,)
    """grid: number of trees"""
    max_depth: Annotated[Grid[Positive | None], Rule(f"{INTEGERS} or 'none'")] = (6, 8, None)
    """grid: tree depth (none = unlimited)"""
    min_samples_leaf: Integers = (2, 4)
    """grid: leaf size"""
    max_features: Annotated[
        Grid[Literal["sqrt", "log2"] | Annotated[float, Field(gt=0, le=1)]],
        Rule("a comma-separated list of 'sqrt', 'log2' or fractions in (0, 1]"),
    ] = (0.5,)
    """grid: share of features per split (sqrt, log2 or a fraction)"""
    learning_rate: Numbers = (0.05, 0.1)
    """grid: learning rate"""
    logistic_c: Numbers = (0.1, 1.0)
    """grid: inverse L2 penalty C"""
    cv_folds: Annotated[Integer, Field(ge=2), Rule("an integer >= 2")] = 5
    """stratified, shuffled CV folds"""
    seed: Seed = 42
    refit_metric: Annotated[str, OneOf(names.CV_METRICS)] = "accuracy"
    """CV metric that picks the grid point to refit"""

    def candidate_grids(self) -> dict[str, dict[str, list[object]]]:
        """Per chosen candidate, its grid in the classifier's own hyper-parameter names."""
        grids: dict[str, dict[str, tuple[object, ...]]] = {
            "random_forest": {
                "n_estimators": self.n_trees,
                "max_depth": self.max_depth,
                "min_samples_leaf": self.min_samples_leaf,
                "max_features": self.max_features,
            },
            "hist_gradient_boosting": {"learning_rate": self.learning_rate},
            "logistic_regression": {"C": self.logistic_c},
        }
        return {name: {k: list(v) for k, v in grids[name].items()} for name in self.candidates}


class _Gated(Params):
    model_name: ModelName = names.MODEL_NAME
    gate_metric: Annotated[str, OneOf(names.HOLDOUT_METRICS)] = "roc_auc"
    """holdout metric the new version must match or beat to become champion"""
    promote_to: Annotated[str, OneOf(names.GATE_ALIASES)] = names.CHAMPION_ALIAS
    """alias a version that passes the gate takes: champion, or challenger (tried in shadow,
    then promote)"""


class _TrainsOn(Params):
    prepare_run_id: Text = None
    """train on the splits of this prepare run; empty: run prepare first"""


# pydantic takes the fields of the last base first: prepare's, prepare_run_id, the search's.
class TrainConfig(SearchConfig, _TrainsOn, PrepareConfig):
    """``train`` (and ``prepare``, which it runs first when given no prepare run)."""

    model_name: ModelName = names.MODEL_NAME


class EvaluateConfig(_Gated):
    """``evaluate``: which model to score on which holdout, and how to gate it."""

    model_uri: Text = None
    """model to score; empty: the newest version of model_name"""
    prepare_run_id: Text = None
    """whose holdout to score on; empty: the model's own prepare run"""


class MainConfig(_Gated, SearchConfig, PrepareConfig):
    """``main``: prepare, train and evaluate in one parent run."""


class _Experiment(Params):
    experiment_name: Name
    """evaluate the best-CV version trained in it"""
    run_name: Annotated[str, Rule("a run's name")] = ""
    """only versions whose train run has this name compete (an Argo workflow's); empty: all"""


class EvaluateBestConfig(_Gated, _Experiment):
    """``evaluate_best``: gate the best version one experiment (or its runs of one name) trained."""


class CrossValidateConfig(SearchConfig, DataConfig):
    """``cross_validate``: the search to evaluate, on every labelled passenger."""


class ReleaseConfig(Params):
    """``release``: pin the version production serves in Git (a kustomize patch)."""

    model_name: ModelName = names.MODEL_NAME
    version: Annotated[
        Annotated[str, Field(pattern=r"^[1-9][0-9]*$")] | None,
        EMPTY_IS_NONE,
        Rule("a version number"),
    ] = None
    """version to release; empty: the champion"""
    output: ReleasePatch = RELEASE_PATCH
    """the kustomize patch to write"""


class _LogWindow(Params):
    """A window of the prediction log: where the log is, and which lines count."""

    log_uri: Annotated[str, Field(min_length=1), Rule("a folder or s3:// prefix")]
    """prediction log: a folder or an s3:// prefix"""
    since: Window = None
    """window start: an instant, or a duration before until (P1D)"""
    until: Window = None
    """window end (excluded): an instant, or a duration before now; empty: now"""
    log_storage: PredictionLogStorage = Field(default_factory=PredictionLogStorage.read)
    """the prediction log's own S3 endpoint and keys, as the serving layer writes it"""

    def window(self, now: datetime) -> tuple[datetime | None, datetime]:
        """The window as instants: ``until`` empty is ``now``; a duration counts back from it.

        Raises:
            ConfigError: When the window is empty.
        """
        until, since = self.until, self.since
        end = now - until if isinstance(until, timedelta) else until or now
        start = end - since if isinstance(since, timedelta) else since
        if start is not None and start >= end:
            raise ConfigError(
                f"invalid window: since {start:%Y-%m-%dT%H:%M:%SZ} is not before until "
                f"{end:%Y-%m-%dT%H:%M:%SZ}"
            )
        return start, end


class CompareConfig(_LogWindow):
    """``compare``: the served and the shadow version on the same logged records and labels."""

    labels_uri: Location = ""
    """CSV PassengerId,Survived of outcomes learnt later; empty: none (agreement only)"""
    min_labelled: Positive = 100
    """labelled pairs needed for a decision; fewer: insufficient_labels"""
    min_accuracy_gain: Annotated[
        float, Field(gt=-1, lt=1), Rule("a number strictly between -1 and 1")
    ] = 0.0
    """promote only when the accuracy gain's lower bound is above this"""
    confidence: Fraction = 0.95
    """confidence level of the accuracy gain's bootstrap interval"""
    experiment_name: Name = names.MONITORING_EXPERIMENT
    """experiment of the comparison runs"""
    storage: StorageConfig = Field(default_factory=StorageConfig)


class PromoteConfig(Params):
    """``promote``: champion to the challenger a comparison found better, then the release."""

    model_name: ModelName = names.MODEL_NAME
    experiment_name: Name = names.MONITORING_EXPERIMENT
    """experiment of the comparison runs (compare's experiment_name)"""
    output: ReleasePatch = RELEASE_PATCH
    """the kustomize patch the release writes"""


class MonitorConfig(_LogWindow):
    """``monitor``: drift and live quality of what the serving layer logged."""

    labels_uri: Location = ""
    """CSV PassengerId,Survived of outcomes learnt later; empty: none"""
    experiment_name: Name = names.MONITORING_EXPERIMENT
    """experiment of the monitoring runs"""
    p_value_threshold: Fraction = 0.01
    """a test's p-value below this rejects 'same distribution'"""
    psi_threshold: Annotated[float, Field(gt=0), Rule("a positive number")] = 0.2
    """population stability index above this is a large shift"""
    missing_share_threshold: Fraction = 0.1
    """a change in a field's share of missing values above this"""
    fail_on_drift: Flag = False
    """exit with an error when a field drifted (for schedulers)"""
    storage: StorageConfig = Field(default_factory=StorageConfig)


#: The Label Studio project reviewers work in, unless ``project`` says otherwise.
REVIEW_PROJECT = "titanic-review"
ReviewProject = Annotated[str, Field(min_length=1), Rule("a project's title")]


class RequestLabelsConfig(_LogWindow):
    """``request_labels``: which logged predictions go to reviewers in Label Studio."""

    project: ReviewProject = REVIEW_PROJECT
    """the Label Studio project (created when missing)"""
    sample_size: Positive = 200
    """scored records sampled from the window"""
    strategy: Annotated[Literal["uncertainty", "random"], Rule("uncertainty or random")] = (
        "uncertainty"
    )
    """uncertainty: the probabilities nearest 0.5 first; random: a seeded uniform sample"""
    seed: NonNegative = 42
    """seed of the random sample (strategy=random)"""
    label_studio: LabelStudioSettings = Field(default_factory=LabelStudioSettings)


class CollectLabelsConfig(Params):
    """``collect_labels``: the reviewers' answers, as labels the monitor job reads."""

    project: ReviewProject = REVIEW_PROJECT
    """the Label Studio project"""
    output_uri: Destination
    """the labels CSV (PassengerId,Survived,...): a local path or s3://"""
    min_annotations: Positive = 1
    """answers (not skipped) a task needs before it counts"""
    label_studio: LabelStudioSettings = Field(default_factory=LabelStudioSettings)
    storage: StorageConfig = Field(default_factory=StorageConfig)
