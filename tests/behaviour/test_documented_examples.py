"""The answers the README and the serving page show are the answers of the model make run registers.

Each ``curl`` example's body is parsed as MLflow's scoring server parses it and given to the
pyfunc adapter around the same pipeline; the documented predictions must come back exactly.
"""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from mlflow.pyfunc.scoring_server import infer_and_parse_data, parse_csv_input

from tests.processes import PROJECT_ROOT
from titanic_model.model.pyfunc import InvalidPassengersError, TitanicSurvivalModel

PAGES = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "docs" / "serving.md"]
# A curl example: its JSON body (-d '…') or CSV file (--data-binary @…), then the answer as
# comment lines, of which every prediction object is compared.
EXAMPLE = re.compile(
    r"curl -s [^\n]*?(?:-d '(?P<body>.*?)'|--data-binary @(?P<file>\S+))\n"
    r"(?P<answer>(?:#[^\n]*\n)+)",
    re.DOTALL,
)
PREDICTION = re.compile(r'\{"(?:PassengerId|survived)"[^{}]*\}')
REFUSAL = re.compile(r'^# 400 \{"error_code": "INVALID_PARAMETER_VALUE", "message": "([^"]+)"')


def _examples() -> list[tuple[str, str | None, str | None, list[dict] | str]]:
    """Per example: its page, its JSON body or CSV file, and its predictions or 400 message."""
    found = []
    for page in PAGES:
        for match in EXAMPLE.finditer(page.read_text()):
            refusal = REFUSAL.match(match["answer"])
            answers = [json.loads(p) for p in PREDICTION.findall(match["answer"])]
            found.append(
                (page.name, match["body"], match["file"], refusal[1] if refusal else answers)
            )
    return found


@pytest.fixture(scope="module")
def model(pipeline) -> TitanicSurvivalModel:
    adapter = TitanicSurvivalModel()
    adapter.pipeline = pipeline
    return adapter


def test_the_pages_show_examples():
    assert {page for page, *_ in _examples()} == {page.name for page in PAGES}
    assert len(_examples()) == 7


@pytest.mark.parametrize(("page", "body", "file", "answers"), _examples())
def test_a_documented_answer_is_the_models(model, test_csv, page, body, file, answers):
    if body is not None:
        parsed = infer_and_parse_data(json.loads(body))
    else:
        assert file == "titanic_test.csv"
        parsed = parse_csv_input(io.StringIO(test_csv.read_text()))
    if isinstance(answers, str):  # a documented refusal: the model's own one-line message
        with pytest.raises(InvalidPassengersError) as refused:
            model.predict(None, parsed)
        assert refused.value.message == answers
        return
    predictions = model.predict(None, parsed)

    assert answers, page
    shown = pd.DataFrame(answers).astype(predictions.dtypes.to_dict())
    pd.testing.assert_frame_equal(shown, predictions.head(len(answers)), check_exact=True)


def test_the_python_example_prints_the_models_first_answer(pipeline, test_csv):
    """docs/model.md loads the champion and predicts Kaggle's test file: its first row."""
    page = (PROJECT_ROOT / "docs" / "model.md").read_text()
    assert 'model.predict(pd.read_csv("titanic_test.csv"))' in page
    (shown,) = re.findall(r"^# 0 +(\d+) +([01]) +([0-9.]+)$", page, flags=re.MULTILINE)
    adapter = TitanicSurvivalModel()
    adapter.pipeline = pipeline
    first = adapter.predict(None, pd.read_csv(test_csv)).iloc[0]

    assert (int(shown[0]), int(shown[1])) == (first["PassengerId"], first["survived"])
    assert shown[2] == f"{first['probability']:.6f}"
