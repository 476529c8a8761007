"""A random forest whose predictions cost microseconds, not a thread-pool dispatch per tree."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError

# Below this many (row, tree) pairs, all trees are walked at once with numpy; above it,
# scikit-learn's compiled per-tree code is faster and needs no (rows x trees) arrays.
_VECTORISED_PAIRS = 20_000


class LowLatencyRandomForestClassifier(RandomForestClassifier):
    """scikit-learn's random forest, with a ``predict_proba`` built for small requests.

    ``RandomForestClassifier.predict_proba`` sends every tree through joblib and re-checks
    the input once per tree: about 45 µs per tree, so 9 ms for one passenger through 200
    trees. Here the input is checked once; a small batch walks every tree at once, one
    numpy step per tree level, over the forest's nodes flattened in ``fit``; a large batch
    calls each tree's compiled ``predict`` in turn. Either way a row ends in the same leaves
    as in scikit-learn (same float32 features, same thresholds), so the probabilities are
    scikit-learn's, up to the rounding of their sum. Training is scikit-learn's own.

    It reads the fitted trees' arrays (``children_left``/``children_right``, ``feature``,
    ``threshold``, ``value``) and relies on ``tree_.value`` holding each node's class
    fractions, as scikit-learn does since 1.4 (counts before). pyproject therefore declares
    the scikit-learn releases it was checked against (``>=1.6,<1.10``); a new one must pass
    ``tests/unit/model/test_forest.py`` (equal to ``RandomForestClassifier`` on both paths) before
    the bound moves, and ``fit`` refuses trees whose values are not fractions.
    """

    def fit(self, features, y, sample_weight=None) -> LowLatencyRandomForestClassifier:
        """Fit the forest as scikit-learn does, then flatten its trees for prediction.

        Args:
            features: Feature matrix of shape ``(n_samples, n_features)``.
            y: Class labels.
            sample_weight: Optional per-sample weights.

        Returns:
            The fitted classifier.
        """
        super().fit(features, y, sample_weight=sample_weight)
        trees = [estimator.tree_ for estimator in self.estimators_]
        counts = [tree.node_count for tree in trees]
        self.flat_roots_ = np.cumsum([0, *counts[:-1]])
        starts = np.repeat(self.flat_roots_, counts)  # each node's tree's root
        leaf = np.concatenate([tree.children_left for tree in trees]) == -1
        own_index = np.arange(sum(counts))
        # A leaf points to itself through a test that always holds, so walking further
        # than a tree's depth keeps every row in its leaf.
        self.flat_features_ = np.where(leaf, 0, np.concatenate([t.feature for t in trees]))
        self.flat_thresholds_ = np.where(leaf, np.inf, np.concatenate([t.threshold for t in trees]))
        left = np.where(leaf, own_index, np.concatenate([t.children_left for t in trees]) + starts)
        right = np.where(
            leaf, own_index, np.concatenate([t.children_right for t in trees]) + starts
        )
        self.flat_children_ = np.column_stack([left, right]).ravel()  # node i's: 2i and 2i + 1
        self.flat_values_ = np.concatenate([t.value[:, 0, : self.n_classes_] for t in trees])
        if not np.allclose(self.flat_values_.sum(axis=1), 1.0):
            raise RuntimeError(
                "this scikit-learn's trees do not hold class fractions in tree_.value: "
                "LowLatencyRandomForestClassifier supports scikit-learn >=1.6,<1.10"
            )
        self.flat_depth_ = max(tree.max_depth for tree in trees)
        return self

    def predict_proba(self, features) -> np.ndarray:
        """Class probabilities: the mean over trees of the class fractions in each row's leaf.

        Args:
            features: Feature matrix of shape ``(n_samples, n_features)``.

        Returns:
            Shape ``(n_samples, n_classes)``, columns in the order of ``classes_``.
        """
        if not hasattr(self, "flat_values_"):  # check_is_fitted costs more than one walk
            raise NotFittedError("this forest is not fitted yet: call fit first")
        # scikit-learn's full input check costs more than walking the trees of one row.
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.n_features_in_:
            raise ValueError(
                f"expected a matrix of {self.n_features_in_} features, got shape {features.shape}"
            )
        if not np.isfinite(features).all():
            raise ValueError("features must be finite numbers")
        if features.shape[0] * len(self.estimators_) <= _VECTORISED_PAIRS:
            return self._walk_all_trees(features)
        proba = np.zeros((features.shape[0], self.n_classes_))
        for estimator in self.estimators_:
            proba += estimator.tree_.predict(features)[:, : self.n_classes_]
        return proba / len(self.estimators_)

    def _walk_all_trees(self, features: np.ndarray) -> np.ndarray:
        # Compare in float64 against float32 features, exactly as the compiled trees do.
        values = features.astype(np.float64)
        rows = np.arange(len(values))[:, np.newaxis]
        nodes = np.broadcast_to(self.flat_roots_, (len(values), len(self.flat_roots_)))
        for _ in range(self.flat_depth_):
            # Features are finite (checked above), so "not <=" is ">": a row goes right.
            goes_right = values[rows, self.flat_features_[nodes]] > self.flat_thresholds_[nodes]
            nodes = self.flat_children_[2 * nodes + goes_right]
        return self.flat_values_[nodes].sum(axis=1) / len(self.estimators_)
