from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from titanic_model.evaluation.plots import diagnostic_figures, importance_figure


def test_diagnostic_figures():
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 1])
    probabilities = np.array([0.9, 0.2, 0.6, 0.7, 0.3, 0.1, 0.8, 0.55])

    figures = diagnostic_figures(labels, probabilities)

    assert all(isinstance(figure, Figure) for figure in figures.values())
    assert len({id(figure) for figure in figures.values()}) == 4
    titles = {name: figure.axes[0].get_title() for name, figure in figures.items()}
    assert titles == {
        "confusion_matrix.png": "Holdout confusion matrix",
        "roc_curve.png": "Holdout ROC curve",
        "precision_recall_curve.png": "Holdout precision-recall curve",
        "calibration.png": "Holdout reliability diagram",
    }
    # Confusion matrix cut at 0.5: TN 2, FP 1, FN 1, TP 4.
    cells = [text.get_text() for text in figures["confusion_matrix.png"].axes[0].texts]
    assert cells == ["2", "1", "1", "4"]
    assert plt.get_fignums() == []  # bare figures: nothing registered with pyplot


def test_importance_figure_puts_the_most_important_column_on_top():
    importance = pd.DataFrame(
        {"column": ["Sex", "Pclass", "PassengerId"], "importance_mean": [0.2, 0.1, 0.0],
         "importance_std": [0.02, 0.01, 0.0]}
    )  # fmt: skip

    figure = importance_figure(importance)

    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["PassengerId", "Pclass", "Sex"]  # drawn bottom-up
    assert plt.get_fignums() == []
