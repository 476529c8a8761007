"""The benchmark's floor, logged as code like ours: a pyfunc that answers a constant.

MLflow runs this file when it loads the floor (models from code), so it needs no pickle and
serves where pickles are refused. Nothing imports it.
"""

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class NoOpModel(PythonModel):
    """The floor: answers every record with a constant, doing no work."""

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """A constant answer per record."""
        return pd.DataFrame({"survived": [0] * len(model_input), "probability": 0.5})


set_model(NoOpModel())
