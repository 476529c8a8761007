"""Hand-made passengers: deterministic, varied, no file I/O (unit and job tests)."""

from __future__ import annotations

import pandas as pd

from titanic_model.model.schema import LABEL, validate_passengers

#: Kaggle's first passenger as a client sends it (JSON-ready: None where a value is missing).
BRAUND = {
    "PassengerId": 1, "Pclass": 3, "Name": "Braund, Mr. Owen Harris", "Sex": "male", "Age": 22,
    "SibSp": 1, "Parch": 0, "Ticket": "A/5 21171", "Fare": 7.25, "Cabin": None, "Embarked": "S",
}  # fmt: skip

_SURNAMES = (
    "Braund", "Cumings", "Heikkinen", "Futrelle", "Allen", "Moran", "McCarthy",
    "Palsson", "Johnson", "Nasser", "Sandstrom", "Bonnell", "Saundercock",
)  # fmt: skip
_MALE_TITLES = ("Mr", "Mr", "Master", "Mr", "Dr", "Mr", "Rev")
_FEMALE_TITLES = ("Mrs", "Miss", "Mrs", "Mlle", "Miss", "Mme", "Ms")
_TICKETS = (
    "A/5 21171", "PC 17599", "STON/O2. 3101282", "113803", "373450", "330877",
    "17463", "349909", "347742", "237736", "PP 9549", "113783",
)  # fmt: skip
_CABINS = (None, "C85", None, "C123", None, "E46", None, "G6", None, "B28", None, None)
_EMBARKED = ("S", "C", "S", "Q", "S", None, "C", "S")


def make_passengers(count: int) -> pd.DataFrame:
    """Raw Kaggle-like passengers with a ``Survived`` label mostly following ``Sex``.

    Rows alternate male/female; every fifth row breaks the "women survive" rule so that
    neither the features nor the labels are trivially separable. Some ages, fares, cabins
    and ports are missing, and tickets repeat so that ticket groups exist.
    """
    rows = []
    for i in range(count):
        female = i % 2 == 1
        titles = _FEMALE_TITLES if female else _MALE_TITLES
        pclass = 1 + i % 3
        rows.append(
            {
                "PassengerId": i + 1,
                "Pclass": pclass,
                "Name": f"{_SURNAMES[i % len(_SURNAMES)]}, {titles[(i // 2) % len(titles)]}. "
                f"Given{i}",
                "Sex": "female" if female else "male",
                "Age": None if i % 5 == 4 else float(2 + (i * 7) % 70),
                "SibSp": i % 3,
                "Parch": (i // 3) % 3,
                "Ticket": _TICKETS[i % len(_TICKETS)],
                "Fare": None if i == 6 else round(7.25 + (3 - pclass) * 30 + i * 1.5, 2),
                "Cabin": _CABINS[i % len(_CABINS)],
                "Embarked": _EMBARKED[i % len(_EMBARKED)],
                LABEL: int(female) ^ int(i % 5 == 0),
            }
        )
    return pd.DataFrame(rows)


def split_features(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Validated passenger columns and the 0/1 labels, as training feeds the pipeline."""
    validated = validate_passengers(raw, with_label=True)
    return validated.drop(columns=[LABEL]), validated[LABEL].astype(int)
