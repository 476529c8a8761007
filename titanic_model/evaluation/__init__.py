"""Scoring a model: holdout and live metrics, baselines, permutation importance, figures."""
