"""Training: the holdout split, the grid search and nested CV, the champion gate, the model card."""
