from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from titanic_model.model.features import (
    CATEGORICAL_FEATURES,
    INFREQUENT,
    NO_TICKET_PREFIX,
    NUMERIC_FEATURES,
    RARE_TITLE,
    UNKNOWN_DECK,
    PassengerFeatures,
    cabin_decks,
    extract_titles,
    split_tickets,
    travel_group_keys,
)
from titanic_model.model.schema import check_passengers, validate_passengers
from titanic_model.training.search import holdout_split

# ---------------------------------------------------------------- helpers


def passengers(**columns: list[object]) -> pd.DataFrame:
    """Validated passengers: one row per value of the given columns, defaults elsewhere.

    By default everyone is a lone third-class man of 30 with his own ticket, fare 10, no
    cabin, from Southampton.
    """
    count = len(next(iter(columns.values())))
    raw = pd.DataFrame(
        {
            "PassengerId": range(1, count + 1),
            "Pclass": [3] * count,
            "Name": [f"Person{i}, Mr. A" for i in range(count)],
            "Sex": ["male"] * count,
            "Age": [30.0] * count,
            "SibSp": [0] * count,
            "Parch": [0] * count,
            "Ticket": [f"T{i}" for i in range(count)],
            "Fare": [10.0] * count,
            "Cabin": [None] * count,
            "Embarked": ["S"] * count,
        }
    )
    for name, values in columns.items():
        raw[name] = pd.Series(values, dtype=object)
    return validate_passengers(raw)


def labels_for(frame: pd.DataFrame) -> np.ndarray:
    return np.arange(len(frame)) % 2


def transformer(**params: object) -> PassengerFeatures:
    """A transformer that keeps every category, with pandas output."""
    params = {"min_title_count": 1, "min_category_count": 1, **params}
    return PassengerFeatures(**params).set_output(transform="pandas")


def unscaled(fitted: PassengerFeatures, out: pd.DataFrame) -> pd.DataFrame:
    """The output with the numeric features turned back from standard scores to values."""
    numeric = list(NUMERIC_FEATURES)
    values = out.copy()
    values[numeric] = out[numeric].to_numpy() * fitted.numeric_scale_ + fitted.numeric_mean_
    return values


def numbers(fitted: PassengerFeatures, out: pd.DataFrame, feature: str) -> list[float]:
    return pytest.approx(unscaled(fitted, out)[feature].tolist(), abs=1e-9)


def categories(out: pd.DataFrame, feature: str) -> list[str | None]:
    """Per row, the category whose one-hot column is set (None when no column is)."""
    columns = [c for c in out.columns if c.startswith(f"{feature}_")]
    assert set(out[columns].to_numpy().ravel()) <= {0.0, 1.0}
    assert (out[columns].sum(axis=1) <= 1).all()
    return [
        next((c.removeprefix(f"{feature}_") for c in columns if row[c] == 1.0), None)
        for _, row in out.iterrows()
    ]


def fitted_state(estimator: object) -> dict[str, object]:
    return {k: v for k, v in vars(estimator).items() if k.endswith("_")}


# ---------------------------------------------------------------- titles


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("Braund, Mr. Owen Harris", "Mr"),
        ("Cumings, Mrs. John Bradley (Florence Briggs Thayer)", "Mrs"),
        ("Heikkinen, Miss. Laina", "Miss"),
        ("Palsson, Master. Gosta Leonard", "Master"),
        ("Aubart, Mme. Leontine Pauline", "Mrs"),
        ("Sagesser, Mlle. Emma", "Miss"),
        ("Reynaldo, Ms. Encarnacion", "Miss"),
        ("Duff Gordon, Lady. (Lucille Christiana Sutherland)", "Mrs"),
        ("Duff Gordon, Sir. Cosmo Edmund", "Mr"),
        ("Uruchurtu, Don. Manuel E", "Don"),
        ("Rothes, the Countess. of (Lucy Noel Martha Dyer-Edwards)", "Countess"),
        ("Rothes, The Countess. of", "Countess"),
        ("Simonius-Blumer,  Col.  Oberst Alfons", "Col"),
        ("Smith, mR. John", "Mr"),
        ("Smith, MLLE. Anne", "Miss"),
        ("Smith, Mr John", "Mr"),
        ("Smith,Dr.John", "Dr"),
        ("  Smith, Rev. John  ", "Rev"),
    ],
)
def test_extract_titles(name: str, title: str):
    assert extract_titles([name]).tolist() == [title]


@pytest.mark.parametrize("name", ["No title here", "Smith,", "", "   ", None, np.nan])
def test_extract_titles_without_a_title_gives_none(name: object):
    assert extract_titles([name]).tolist() == [None]


def test_extract_titles_returns_one_object_per_name():
    titles = extract_titles(np.array(["A, Mr. X", np.nan, "B, Ms. Y"], dtype=object))

    assert titles.dtype == object
    assert titles.tolist() == ["Mr", None, "Miss"]
    assert extract_titles([]).tolist() == []


def test_frequent_titles_are_kept_and_the_rest_are_rare():
    frame = passengers(
        Name=["A, Mr. X", "B, Mr. Y", "C, Miss. Z", "D, Mlle. W", "E, Dr. V", "F, Mme. U"]
    )

    fitted = transformer(min_title_count=2).fit(frame, labels_for(frame))

    assert fitted.frequent_titles_ == {"Miss", "Mr"}
    assert categories(fitted.transform(frame), "Title") == [
        "Mr", "Mr", "Miss", "Miss", RARE_TITLE, RARE_TITLE,
    ]  # fmt: skip


def test_title_synonyms_count_towards_the_common_title():
    frame = passengers(Name=["A, Mlle. X", "B, Ms. Y", "C, Mme. Z", "D, Mrs. W"])

    fitted = transformer(min_title_count=2).fit(frame, labels_for(frame))

    assert fitted.frequent_titles_ == {"Miss", "Mrs"}
    assert categories(fitted.transform(frame), "Title") == ["Miss", "Miss", "Mrs", "Mrs"]


def test_unseen_and_missing_titles_are_rare():
    train = passengers(Name=["A, Mr. X", "B, Mr. Y", "C, Mrs. Z", "D, Mrs. W", "E, Dr. V"])
    fitted = transformer(min_title_count=2).fit(train, labels_for(train))
    new = passengers(Name=["C, Capt. Z", "D, Jonkheer. W", "no title", "x", "E, Mrs. V"])
    new.loc[3, "Name"] = np.nan  # a missing name, as a caller skipping validation may send

    assert categories(fitted.transform(new), "Title") == [
        RARE_TITLE, RARE_TITLE, RARE_TITLE, RARE_TITLE, "Mrs",
    ]  # fmt: skip


def test_min_title_count_above_every_count_makes_every_title_rare():
    frame = passengers(Name=["A, Mr. X", "B, Mr. Y", "C, Miss. Z"])

    fitted = transformer(min_title_count=10).fit(frame, labels_for(frame))

    assert fitted.frequent_titles_ == frozenset()
    assert set(categories(fitted.transform(frame), "Title")) == {RARE_TITLE}


def test_default_params():
    assert PassengerFeatures().get_params() == {
        "min_title_count": 10,
        "min_category_count": 10,
        "group_prior": 0.5,
    }


# ---------------------------------------------------------------- family and fare


def test_family_size_and_is_alone():
    frame = passengers(SibSp=[0, 1, 3, 0], Parch=[0, 2, 1, 1])

    fitted = transformer()
    out = fitted.fit(frame, labels_for(frame)).transform(frame)

    assert numbers(fitted, out, "FamilySize") == [1.0, 4.0, 5.0, 2.0]
    assert numbers(fitted, out, "IsAlone") == [1.0, 0.0, 0.0, 0.0]


def test_fare_per_person_divides_by_family_size_and_missing_fares_get_the_median():
    frame = passengers(SibSp=[0, 1, 3, 2], Parch=[0, 2, 1, 0], Fare=[10.0, 40.0, None, 90.0])

    fitted = transformer()
    out = fitted.fit(frame, labels_for(frame)).transform(frame)

    # The missing fare gets the training median of each feature: 40 and 10.
    assert numbers(fitted, out, "Fare") == [10.0, 40.0, 40.0, 90.0]
    assert numbers(fitted, out, "FarePerPerson") == [10.0, 10.0, 10.0, 30.0]
    assert not out.isna().any().any()


# ---------------------------------------------------------------- cabins


@pytest.mark.parametrize(
    ("cabin", "has_cabin", "deck"),
    [
        ("C85", 1.0, "C"),
        ("b57", 1.0, "B"),
        ("F G73", 1.0, "F"),
        ("  E46", 1.0, "E"),
        ("B57 B59 B63", 1.0, "B"),
        ("7", 1.0, UNKNOWN_DECK),
        ("#A1", 1.0, UNKNOWN_DECK),
        (None, 0.0, UNKNOWN_DECK),
        (np.nan, 0.0, UNKNOWN_DECK),
        ("", 0.0, UNKNOWN_DECK),
        ("   ", 0.0, UNKNOWN_DECK),
    ],
)
def test_cabin_decks(cabin: object, has_cabin: float, deck: str):
    has, decks = cabin_decks(np.array(["C85", cabin], dtype=object))

    assert has.tolist() == [1.0, has_cabin]
    assert has.dtype == np.float64
    assert decks.tolist() == ["C", deck]


def test_cabin_decks_all_missing():
    has, decks = cabin_decks([np.nan, None])

    assert has.tolist() == [0.0, 0.0]
    assert decks.tolist() == [UNKNOWN_DECK, UNKNOWN_DECK]


def test_cabin_features():
    frame = passengers(Cabin=["C85", None, "7", "b2", "  "])

    fitted = transformer()
    out = fitted.fit(frame, labels_for(frame)).transform(frame)

    assert numbers(fitted, out, "HasCabin") == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert categories(out, "Deck") == ["C", UNKNOWN_DECK, UNKNOWN_DECK, "B", UNKNOWN_DECK]


# ---------------------------------------------------------------- tickets


@pytest.mark.parametrize(
    ("ticket", "prefix", "number_length"),
    [
        ("A/5. 21171", "A5", 5),
        ("A/5 21171", "A5", 5),
        ("a/5 123", "A5", 3),
        ("113803", NO_TICKET_PREFIX, 6),
        ("  113803  ", NO_TICKET_PREFIX, 6),
        ("PC 17599", "PC", 5),
        ("STON/O2. 3101282", "STONO2", 7),
        ("STON/O 2. 3101269", "STONO2", 7),
        ("SOTON/O.Q. 3101307", "SOTONOQ", 7),
        ("C.A. 2343", "CA", 4),
        ("LINE", "LINE", 0),
        ("A/4.", "A4", 0),
        ("", NO_TICKET_PREFIX, 0),
        (None, NO_TICKET_PREFIX, 0),
    ],
)
def test_split_tickets(ticket: object, prefix: str, number_length: int):
    prefixes, lengths = split_tickets([ticket])

    assert prefixes.tolist() == [prefix]
    assert lengths.tolist() == [float(number_length)]
    assert lengths.dtype == np.float64


def test_ticket_features_learn_group_sizes_in_fit():
    frame = passengers(Ticket=["113803", "A/5. 21171", "113803", " 113803 ", "PC 17599"])

    fitted = transformer()
    out = fitted.fit(frame, labels_for(frame)).transform(frame)

    assert fitted.ticket_counts_ == {"113803": 3, "A/5. 21171": 1, "PC 17599": 1}
    assert numbers(fitted, out, "TicketGroupSize") == [3.0, 1.0, 3.0, 3.0, 1.0]
    assert categories(out, "TicketPrefix") == ["NONE", "A5", "NONE", "NONE", "PC"]
    assert numbers(fitted, out, "TicketNumberLength") == [6.0, 5.0, 6.0, 6.0, 5.0]


def test_ticket_group_size_uses_fit_counts_not_transform_counts():
    train = passengers(Ticket=["111", "111", "222"])
    fitted = transformer().fit(train, labels_for(train))

    out = fitted.transform(passengers(Ticket=["999", "999", "999", "111", "222"]))

    assert numbers(fitted, out, "TicketGroupSize") == [1.0, 1.0, 1.0, 2.0, 1.0]


# ---------------------------------------------------------------- age by title


def _aged() -> pd.DataFrame:
    return passengers(
        Name=["A, Master. A", "B, Master. B", "C, Master. C", "D, Mr. D", "E, Mr. E",
              "F, Miss. F", "G, Miss. G", "H, Rev. H"],
        Age=[10.0, 20.0, None, 40.0, 60.0, None, None, 80.0],
    )  # fmt: skip


def test_missing_ages_get_the_median_of_their_title():
    frame = _aged()

    fitted = transformer(min_title_count=2)
    out = fitted.fit(frame, labels_for(frame)).transform(frame)

    assert fitted.age_medians_ == {"Master": 15.0, "Mr": 50.0, RARE_TITLE: 80.0}
    assert fitted.overall_age_median_ == 40.0
    # Known ages kept; a Master gets 15; no Miss has a known age -> the overall median.
    assert numbers(fitted, out, "Age") == [10.0, 20.0, 15.0, 40.0, 60.0, 40.0, 40.0, 80.0]


def test_unseen_and_missing_titles_get_the_rare_median():
    train = _aged()
    fitted = transformer(min_title_count=2).fit(train, labels_for(train))
    new = passengers(Name=["X, Capt. X", "no title", "Y, Mr. Y", "Z, Capt. Z"], Age=[None] * 4)
    new.loc[3, "Age"] = 33.0

    out = fitted.transform(new)

    assert numbers(fitted, out, "Age") == [80.0, 80.0, 50.0, 33.0]


def test_ages_fall_back_to_the_overall_median_when_a_group_has_none():
    train = passengers(Name=["A, Mr. A", "B, Mr. B", "C, Dr. C"], Age=[20.0, 40.0, None])
    fitted = transformer(min_title_count=2).fit(train, labels_for(train))

    out = fitted.transform(passengers(Name=["X, Capt. X", "Y, Mr. Y"], Age=[None, None]))

    # No rare-titled passenger had a known age in fit: the overall median.
    assert numbers(fitted, out, "Age") == [30.0, 30.0]


def test_ages_without_any_known_value_fall_back_to_zero():
    frame = passengers(Name=["A, Mr. A", "B, Mrs. B"], Age=[None, None])

    fitted = transformer()
    out = fitted.fit(frame, labels_for(frame)).transform(frame)

    assert fitted.overall_age_median_ == 0.0
    assert numbers(fitted, out, "Age") == [0.0, 0.0]


# ---------------------------------------------------------------- group survival


def _travellers() -> pd.DataFrame:
    return passengers(
        Name=["Smith, Mr. A", "Smith, Mrs. B", "Smith, Miss. C", "Jones, Mr. D",
              "Brown, Mr. E", "Brown, Mrs. F"],
        Ticket=["T1", "T1", "T1", "T2", "T3", "T4"],
        Fare=[30.0, 30.0, 30.0, 8.0, 20.0, 20.0],
    )  # fmt: skip


def test_group_survival_leaves_each_fitted_passengers_own_outcome_out():
    fitted = transformer(group_prior=0.4)

    out = fitted.fit_transform(_travellers(), [1, 0, 1, 0, 1, 0])

    # Smiths share T1: A sees B and C (1 of 2 survived), B sees A and C (2 of 2)...
    # Jones travelled alone: no companion, so the prior and GroupKnown 0.
    # The Browns had two tickets but one surname and fare: companions all the same.
    assert numbers(fitted, out, "GroupSurvival") == [0.5, 1.0, 0.5, 0.4, 0.0, 1.0]
    assert numbers(fitted, out, "GroupKnown") == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]


def test_group_survival_uses_every_fitted_companion_for_new_passengers():
    fitted = transformer(group_prior=0.4).fit(_travellers(), [1, 0, 1, 0, 1, 0])
    newcomers = passengers(
        Name=["Smith, Master. G", "Brown, Miss. H", "Nobody, Mr. I"],
        Ticket=["T1", "T9", "T8"],
        Fare=[30.0, 20.0, 5.0],
    )

    out = fitted.transform(newcomers)

    assert numbers(fitted, out, "GroupSurvival") == [2 / 3, 0.5, 0.4]
    assert numbers(fitted, out, "GroupKnown") == [1.0, 1.0, 0.0]


def test_transform_of_the_fitted_rows_sees_their_own_outcome():
    fitted = transformer(group_prior=0.4).fit(_travellers(), [1, 0, 1, 0, 1, 0])

    out = fitted.transform(_travellers())

    # Unlike fit_transform, every member of the group counts, the passenger included: the
    # Browns' tickets are now known groups of one.
    assert numbers(fitted, out, "GroupSurvival") == [2 / 3, 2 / 3, 2 / 3, 0.0, 1.0, 0.0]
    assert numbers(fitted, out, "GroupKnown") == [1.0] * 6


def test_a_missing_fare_is_not_a_travelling_group():
    train = passengers(
        Name=["Smith, Mr. A", "Smith, Mrs. B", "Smith, Miss. C"],
        Ticket=["T1", "T2", "T3"],
        Fare=[None, None, 7.0],
    )
    fitted = transformer(group_prior=0.4)

    out = fitted.fit_transform(train, [1, 1, 0])
    new = fitted.transform(passengers(Name=["Smith, Mr. D"], Ticket=["T9"], Fare=[None]))

    assert numbers(fitted, out, "GroupKnown") == [0.0, 0.0, 0.0]
    assert numbers(fitted, new, "GroupKnown") == [0.0]
    assert numbers(fitted, new, "GroupSurvival") == [0.4]


def test_travel_group_keys():
    tickets, surnames = travel_group_keys(
        np.array(["Smith, Mr. A", " de la Cruz , Mrs. B", np.nan, "Nobody"], dtype=object),
        np.array([" T1 ", "T2", "T3", np.nan], dtype=object),
        np.array([30.0, 7.254, 8.0, np.nan]),
    )

    assert tickets == ["T1", "T2", "T3", None]
    assert surnames == ["smith|30.0", "de la cruz|7.25", None, None]


def test_group_survival_cannot_be_fitted_without_labels():
    with pytest.raises(ValueError, match="needs the survival labels"):
        PassengerFeatures().fit(_travellers())
    with pytest.raises(ValueError, match="needs the survival labels"):
        PassengerFeatures().fit_transform(_travellers())


# ---------------------------------------------------------------- encoding


def test_unseen_categories_join_the_infrequent_column_or_get_none():
    train = passengers(
        Cabin=["C1", "C2", "C3", "E1", "E2", "E3", "A1"],
        Embarked=["S", "S", "S", "C", "C", "C", "C"],
    )
    fitted = transformer(min_category_count=2).fit(train, labels_for(train))
    new = passengers(Cabin=["T1", "C9", "A2"], Embarked=["Q", "S", "C"])

    out = fitted.transform(new)

    # Deck A was infrequent in fit, so the unseen deck T joins it; every port was frequent,
    # so the unseen port Q has no column at all.
    assert [c for c in out.columns if c.startswith("Deck_")] == [
        "Deck_C", "Deck_E", f"Deck_{INFREQUENT}",
    ]  # fmt: skip
    assert categories(out, "Deck") == [INFREQUENT, "C", INFREQUENT]
    assert [c for c in out.columns if c.startswith("Embarked_")] == ["Embarked_C", "Embarked_S"]
    assert categories(out, "Embarked") == [None, "S", "C"]


def test_rare_categories_share_one_column_by_default():
    frame = passengers(Cabin=["C1"] * 10 + ["E1"] * 9 + [None] * 10)

    fitted = PassengerFeatures().set_output(transform="pandas").fit(frame, labels_for(frame))
    out = fitted.transform(frame)

    assert [c for c in out.columns if c.startswith("Deck_")] == [
        "Deck_C", f"Deck_{UNKNOWN_DECK}", f"Deck_{INFREQUENT}",
    ]  # fmt: skip
    assert categories(out, "Deck") == ["C"] * 10 + [INFREQUENT] * 9 + [UNKNOWN_DECK] * 10


def test_missing_embarked_counts_as_the_most_frequent_port():
    train = passengers(Embarked=["S", "C", "S", None, "Q"])
    fitted = transformer()

    out = fitted.fit_transform(train, labels_for(train))
    new = fitted.transform(passengers(Embarked=[None, "Q"]))

    assert categories(out, "Embarked") == ["S", "C", "S", "S", "Q"]
    assert categories(new, "Embarked") == ["S", "Q"]


def test_missing_embarked_counts_as_the_first_of_tied_ports():
    train = passengers(Embarked=["S", "C", "S", None, "C"])

    out = transformer().fit_transform(train, labels_for(train))

    assert categories(out, "Embarked") == ["S", "C", "S", "C", "C"]


def test_numeric_features_are_standardised_on_the_fitted_rows():
    frame = passengers(
        Age=[2.0, 30.0, None, 61.5, 30.1],
        Fare=[7.25, 100.0, 13.0, 13.0, None],
        SibSp=[0, 1, 0, 3, 1],
    )

    out = transformer().fit_transform(frame, labels_for(frame))

    numeric = out[list(NUMERIC_FEATURES)]
    varying = numeric.columns[numeric.std(ddof=0) > 0]
    assert {"Age", "Fare", "SibSp", "FamilySize", "FarePerPerson"} <= set(varying)
    np.testing.assert_allclose(numeric[varying].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(numeric[varying].std(ddof=0), 1.0)
    # A feature with one value everywhere (Pclass, HasCabin, ...) is centred, not scaled.
    assert (numeric.drop(columns=varying) == 0.0).all().all()


@pytest.mark.parametrize("fare", [3.0, 0.1, 30.1, 1000.1, 7777.77])
def test_a_constant_numeric_feature_is_centred_and_not_scaled(fare: float):
    # Regression: a repeated 30.1 has a variance of a few ulps, not 0; scaling by its root
    # turned a one-pound change into millions of standard deviations.
    train = passengers(Age=[30.1] * 7, Fare=[fare] * 7)
    fitted = transformer().fit(train, labels_for(train))

    out = fitted.transform(passengers(Age=[30.1, 31.1], Fare=[fare, fare + 1.0]))

    np.testing.assert_allclose(out["Age"], [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(out["Fare"], [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(out["FarePerPerson"], [0.0, 1.0], atol=1e-9)


# ---------------------------------------------------------------- the transformer's contract


@pytest.fixture
def frame(raw_passengers: pd.DataFrame, split_features) -> pd.DataFrame:
    features, _ = split_features(raw_passengers)
    return features


@pytest.fixture
def labels(raw_passengers: pd.DataFrame, split_features) -> pd.Series:
    _, survived = split_features(raw_passengers)
    return survived


def test_output_is_a_float_matrix_without_missing_values(frame, labels):
    fitted = PassengerFeatures().fit(frame, labels)

    out = fitted.transform(frame)

    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert out.shape == (len(frame), len(fitted.get_feature_names_out()))
    assert np.isfinite(out).all()


def test_get_feature_names_out_matches_the_pandas_output(frame, labels):
    fitted = PassengerFeatures().set_output(transform="pandas").fit(frame, labels)

    out = fitted.transform(frame)

    names = list(fitted.get_feature_names_out())
    assert list(out.columns) == names
    assert list(out.index) == list(frame.index)
    assert all(dtype == np.float64 for dtype in out.dtypes)
    assert names[: len(NUMERIC_FEATURES)] == list(NUMERIC_FEATURES)
    categorical = [name.split("_")[0] for name in names[len(NUMERIC_FEATURES) :]]
    assert categorical == sorted(categorical, key=CATEGORICAL_FEATURES.index)
    assert set(categorical) == set(CATEGORICAL_FEATURES)


def test_pandas_output_keeps_the_input_index(frame, labels):
    shuffled = frame.set_axis(np.arange(len(frame))[::-1] * 10)

    out = PassengerFeatures().set_output(transform="pandas").fit_transform(shuffled, labels)

    assert list(out.index) == list(shuffled.index)


def test_does_not_mutate_a_dataframe_input(frame, labels):
    before = frame.copy(deep=True)
    labels_before = labels.copy()

    fitted = PassengerFeatures().fit(frame, labels)
    fitted.transform(frame)
    PassengerFeatures().fit_transform(frame, labels)

    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_series_equal(labels, labels_before)


def test_does_not_mutate_a_dict_input(raw_passengers, labels):
    columns = check_passengers(raw_passengers.drop(columns=["Survived"]))
    before = copy.deepcopy(columns)

    fitted = PassengerFeatures().fit(columns, labels)
    fitted.transform(columns)
    PassengerFeatures().fit_transform(columns, labels)

    assert columns.keys() == before.keys()
    for name, values in before.items():
        assert columns[name].dtype == values.dtype
        pd.testing.assert_series_equal(pd.Series(columns[name]), pd.Series(values))


def test_transform_before_fit_raises():
    with pytest.raises(NotFittedError):
        PassengerFeatures().transform(_travellers())
    with pytest.raises(NotFittedError):
        PassengerFeatures().get_feature_names_out()


def test_fit_returns_the_transformer_and_records_its_input(frame, labels):
    features = PassengerFeatures()

    assert features.fit(frame, labels) is features
    assert list(features.feature_names_in_) == list(frame.columns)
    assert features.n_features_in_ == frame.shape[1]


def test_clone_gives_an_unfitted_copy_with_the_same_params(frame, labels):
    fitted = PassengerFeatures(min_title_count=3, min_category_count=2, group_prior=0.3)
    fitted.fit(frame, labels)

    copied = clone(fitted)

    assert type(copied) is PassengerFeatures
    assert copied.get_params() == fitted.get_params()
    assert (copied.min_title_count, copied.min_category_count, copied.group_prior) == (3, 2, 0.3)
    assert fitted_state(copied) == {}
    with pytest.raises(NotFittedError):
        copied.transform(frame)
    np.testing.assert_array_equal(
        copied.fit(frame, labels).transform(frame), fitted.transform(frame)
    )


def test_fitted_state_lives_in_trailing_underscore_attributes(frame, labels):
    features = PassengerFeatures(min_category_count=3)
    params_before = features.get_params()
    assert fitted_state(features) == {}

    features.fit(frame, labels)

    assert "feature_names_in_" in fitted_state(features)
    assert features.get_params() == params_before
    public = {k for k in vars(features) if not k.startswith("_")}
    assert public - set(params_before) == set(fitted_state(features))


def test_refitting_forgets_the_previous_fit(frame, labels):
    other = passengers(Name=["A, Mr. A", "B, Mrs. B"], Ticket=["T1", "T1"])
    features = PassengerFeatures()

    refitted = features.fit(other, [1, 0]).fit(frame, labels).transform(frame)

    np.testing.assert_array_equal(refitted, PassengerFeatures().fit(frame, labels).transform(frame))


def test_dataframe_and_checked_columns_give_identical_matrices(raw_passengers):
    unlabelled = raw_passengers.drop(columns=["Survived"])
    labels = raw_passengers["Survived"]
    frame = validate_passengers(unlabelled)
    columns = check_passengers(unlabelled)
    new_raw = raw_passengers.drop(columns=["Survived"]).iloc[::-1].head(7)

    from_frame = PassengerFeatures(min_category_count=2).fit(frame, labels)
    from_dict = PassengerFeatures(min_category_count=2).fit(columns, labels)

    np.testing.assert_array_equal(
        from_frame.fit_transform(frame, labels), from_dict.fit_transform(columns, labels)
    )
    np.testing.assert_array_equal(
        from_frame.transform(validate_passengers(new_raw)),
        from_frame.transform(check_passengers(new_raw)),
    )
    np.testing.assert_array_equal(
        from_frame.transform(check_passengers(new_raw)),
        from_dict.transform(check_passengers(new_raw)),
    )
    assert list(from_frame.get_feature_names_out()) == list(from_dict.get_feature_names_out())


def test_dict_input_with_pandas_output(raw_passengers):
    unlabelled = raw_passengers.drop(columns=["Survived"])
    fitted = PassengerFeatures().set_output(transform="pandas")
    fitted.fit(validate_passengers(unlabelled), raw_passengers["Survived"])

    out = fitted.transform(check_passengers(unlabelled.head(3)))

    assert list(out.columns) == list(fitted.get_feature_names_out())
    assert len(out) == 3


def test_a_rows_features_do_not_depend_on_the_rest_of_the_batch(frame, labels, make_passengers):
    fitted = PassengerFeatures(min_category_count=2).fit(frame, labels)
    new = validate_passengers(make_passengers(30).drop(columns=["Survived"]).iloc[7:])

    together = fitted.transform(new)
    alone = np.vstack([fitted.transform(new.iloc[[i]]) for i in range(len(new))])
    alone_dicts = np.vstack(
        [fitted.transform({k: v[[i]] for k, v in check_passengers(new).items()}) for i in range(3)]
    )
    reversed_batch = fitted.transform(new.iloc[::-1])[::-1]

    np.testing.assert_array_equal(alone, together)
    np.testing.assert_array_equal(alone_dicts, together[:3])
    np.testing.assert_array_equal(reversed_batch, together)


# ---------------------------------------------------------------- against scikit-learn's encoders

# Standardisation uses numpy's mean and variance where StandardScaler accumulates its own: the
# last bits differ (2.1e-14 at most on Kaggle's files). Everything else is bit-identical.
STANDARDISED_TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def kaggle_splits(train_csv, test_csv) -> dict[str, tuple[pd.DataFrame, pd.Series | None]]:
    """The training split, the holdout (as ``prepare`` cuts them) and the unlabelled test file."""
    labelled = validate_passengers(pd.read_csv(train_csv), with_label=True)
    train, holdout = holdout_split(labelled, labelled["Survived"], test_fraction=0.2, seed=42)
    return {
        "train": (train.drop(columns=["Survived"]), train["Survived"].astype(int)),
        "holdout": (holdout.drop(columns=["Survived"]), None),
        "test": (validate_passengers(pd.read_csv(test_csv)), None),
    }


def test_encoding_equals_scikit_learns_encoders_on_the_kaggle_files(kaggle_splits):
    """SimpleImputer, StandardScaler and OneHotEncoder, fitted on what ours is fitted on."""
    passengers, labels = kaggle_splits["train"]
    ours = PassengerFeatures().set_output(transform="pandas")
    encoded = {"train": ours.fit_transform(passengers, labels)}
    encoded |= {name: ours.transform(kaggle_splits[name][0]) for name in ("holdout", "test")}
    reference = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
             list(NUMERIC_FEATURES)),
            ("categorical", make_pipeline(
                SimpleImputer(strategy="most_frequent", missing_values=None),
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10,
                              sparse_output=False),
            ), list(CATEGORICAL_FEATURES)),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")  # fmt: skip
    # The engineered features of the fitted rows leave each passenger's own outcome out.
    reference.fit(ours.engineer(passengers, labels))

    for name, (frame, own_labels) in kaggle_splits.items():
        expected = reference.transform(ours.engineer(frame, own_labels))
        expected.columns = [c.replace("_infrequent_sklearn", f"_{INFREQUENT}") for c in expected]
        assert list(encoded[name].columns) == list(expected.columns), name
        numeric = list(NUMERIC_FEATURES)
        np.testing.assert_allclose(
            encoded[name][numeric], expected[numeric], rtol=0, atol=STANDARDISED_TOLERANCE
        )
        one_hot = expected.columns[len(numeric) :]
        np.testing.assert_array_equal(encoded[name][one_hot], expected[one_hot], err_msg=name)
    assert expected[one_hot].to_numpy().sum() == len(frame) * len(CATEGORICAL_FEATURES)
    assert any("_infrequent" in column for column in expected.columns)
