"""The model MLflow loads, logged as code (MLflow's "models from code"), not as a pickle.

``registry.log_and_register_model`` logs this file as the pyfunc's ``python_model``; MLflow
runs it when it loads the model, and ``set_model`` names the pyfunc. Nothing imports it.
"""

from mlflow.models import set_model

from titanic_model.model.pyfunc import TitanicSurvivalModel

set_model(TitanicSurvivalModel())
