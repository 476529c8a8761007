from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from titanic_model.features import (
    RARE_TITLE,
    UNKNOWN_DECK,
    CabinFeatures,
    FamilyFeatures,
    FarePerPerson,
    GroupMedianImputer,
    GroupSurvival,
    TicketFeatures,
    TitleExtractor,
    extract_title,
    ticket_prefix,
)


def names_frame(*names: str | None) -> pd.DataFrame:
    return pd.DataFrame({"Name": pd.Series(names, dtype=object), "Other": range(len(names))})


def fitted_state(transformer: object) -> dict[str, object]:
    return {k: v for k, v in vars(transformer).items() if k.endswith("_")}


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
        ("Simonius-Blumer,  Col.  Oberst Alfons", "Col"),
    ],
)
def test_extract_title(name: str, title: str):
    assert extract_title(pd.Series([name])).tolist() == [title]


@pytest.mark.parametrize("name", ["No title here", None])
def test_extract_title_without_title_is_missing(name: str | None):
    assert extract_title(pd.Series([name], dtype=object)).isna().all()


def test_title_extractor_keeps_frequent_titles_and_groups_the_rest():
    train = names_frame("A, Mr. X", "B, Mr. Y", "C, Miss. Z", "D, Mlle. W", "E, Dr. V", "F, Mme. U")

    extractor = TitleExtractor(min_count=2).fit(train)

    assert extractor.frequent_titles_ == ["Miss", "Mr"]
    assert extractor.transform(train)["Title"].tolist() == [
        "Mr", "Mr", "Miss", "Miss", RARE_TITLE, RARE_TITLE,
    ]  # fmt: skip


def test_title_synonyms_count_towards_the_common_title():
    train = names_frame("A, Mlle. X", "B, Ms. Y", "C, Mme. Z", "D, Mrs. W")

    extractor = TitleExtractor(min_count=2).fit(train)

    assert extractor.frequent_titles_ == ["Miss", "Mrs"]
    assert extractor.transform(train)["Title"].tolist() == ["Miss", "Miss", "Mrs", "Mrs"]


def test_unseen_and_missing_titles_are_rare():
    extractor = TitleExtractor(min_count=1).fit(names_frame("A, Mr. X", "B, Mrs. Y"))

    titles = extractor.transform(
        names_frame("C, Capt. Z", "D, Jonkheer. W", "no title", None, "E, Mrs. V")
    )["Title"]

    assert titles.tolist() == [RARE_TITLE, RARE_TITLE, RARE_TITLE, RARE_TITLE, "Mrs"]


def test_min_count_above_every_count_makes_every_title_rare():
    train = names_frame("A, Mr. X", "B, Mr. Y", "C, Miss. Z")

    extractor = TitleExtractor(min_count=10).fit(train)

    assert extractor.frequent_titles_ == []
    assert set(extractor.transform(train)["Title"]) == {RARE_TITLE}


def test_title_extractor_default_min_count():
    assert TitleExtractor().min_count == 10


# ---------------------------------------------------------------- family


def test_family_features():
    family = pd.DataFrame({"SibSp": [0.0, 1.0, 3.0, 0.0], "Parch": [0.0, 2.0, 1.0, 1.0]})

    out = FamilyFeatures().fit(family).transform(family)

    assert out["FamilySize"].tolist() == [1.0, 4.0, 5.0, 2.0]
    assert out["IsAlone"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["IsAlone"].dtype == np.float64


# ---------------------------------------------------------------- cabin


def test_cabin_features_known_cabins():
    cabins = pd.DataFrame({"Cabin": pd.Series(["C85", "b57", "F G73", "  E46"], dtype=object)})

    out = CabinFeatures().fit(cabins).transform(cabins)

    assert out["HasCabin"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert out["Deck"].tolist() == ["C", "B", "F", "E"]


@pytest.mark.parametrize("cabin", [None, np.nan, "", "   "], ids=["None", "nan", "empty", "blank"])
def test_cabin_features_missing_or_empty_cabin(cabin: object):
    cabins = pd.DataFrame({"Cabin": pd.Series(["C85", cabin], dtype=object)})

    out = CabinFeatures().fit(cabins).transform(cabins)

    assert out["HasCabin"].tolist() == [1.0, 0.0]
    assert out["Deck"].tolist() == ["C", UNKNOWN_DECK]


def test_cabin_features_all_missing():
    cabins = pd.DataFrame({"Cabin": pd.Series([np.nan, np.nan], dtype=object)})

    out = CabinFeatures().fit(cabins).transform(cabins)

    assert out["HasCabin"].tolist() == [0.0, 0.0]
    assert out["Deck"].tolist() == [UNKNOWN_DECK, UNKNOWN_DECK]


# ---------------------------------------------------------------- tickets


@pytest.mark.parametrize(
    ("ticket", "prefix"),
    [
        ("A/5. 21171", "A5"),
        ("A/5 21171", "A5"),
        ("a/5 123", "A5"),
        ("113803", "NONE"),
        ("  113803  ", "NONE"),
        ("PC 17599", "PC"),
        ("STON/O2. 3101282", "STONO2"),
        ("STON/O 2. 3101269", "STONO2"),
        ("SOTON/O.Q. 3101307", "SOTONOQ"),
        ("C.A. 2343", "CA"),
    ],
)
def test_ticket_prefix(ticket: str, prefix: str):
    assert ticket_prefix(pd.Series([ticket])).tolist() == [prefix]


def test_ticket_features_learn_group_sizes_in_fit():
    train = pd.DataFrame({"Ticket": ["113803", "A/5. 21171", "113803", " 113803 ", "PC 17599"]})

    features = TicketFeatures().fit(train)
    out = features.transform(train)

    assert features.ticket_counts_ == {"113803": 3, "A/5. 21171": 1, "PC 17599": 1}
    assert out["TicketGroupSize"].tolist() == [3.0, 1.0, 3.0, 3.0, 1.0]
    assert out["TicketPrefix"].tolist() == ["NONE", "A5", "NONE", "NONE", "PC"]
    assert out["TicketNumberLength"].tolist() == [6.0, 5.0, 6.0, 6.0, 5.0]


def test_ticket_group_size_uses_fit_counts_not_transform_counts():
    features = TicketFeatures().fit(pd.DataFrame({"Ticket": ["111", "111", "222"]}))

    out = features.transform(pd.DataFrame({"Ticket": ["999", "999", "999", "111", "222"]}))

    assert out["TicketGroupSize"].tolist() == [1.0, 1.0, 1.0, 2.0, 1.0]
    assert out["TicketGroupSize"].dtype == np.float64


# ---------------------------------------------------------------- fare per person


def test_fare_per_person_divides_by_family_size():
    family = pd.DataFrame(
        {"SibSp": [0.0, 1.0, 3.0], "Parch": [0.0, 2.0, 1.0], "Fare": [10.0, 40.0, np.nan]}
    )
    with_family = FamilyFeatures().fit(family).transform(family)

    out = FarePerPerson().fit(with_family).transform(with_family)

    assert out["FarePerPerson"].iloc[:2].tolist() == [10.0, 10.0]
    assert np.isnan(out["FarePerPerson"].iloc[2])


# ---------------------------------------------------------------- group median imputer


@pytest.fixture
def ages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Age": [10.0, 20.0, np.nan, 40.0, 60.0, np.nan, 80.0],
            "Title": ["Master", "Master", "Master", "Mr", "Mr", "Dr", None],
        }
    )


def test_group_median_imputer_learns_medians(ages: pd.DataFrame):
    imputer = GroupMedianImputer(column="Age", by="Title").fit(ages)

    assert imputer.group_medians_ == {"Master": 15.0, "Mr": 50.0}
    assert imputer.overall_median_ == 40.0


def test_group_median_imputer_fills_per_group_and_falls_back(ages: pd.DataFrame):
    imputer = GroupMedianImputer(column="Age", by="Title").fit(ages)

    out = imputer.transform(ages)

    # Known values kept; Master gets 15; Dr has no known age in fit -> overall median.
    assert out["Age"].tolist() == [10.0, 20.0, 15.0, 40.0, 60.0, 40.0, 80.0]
    assert list(out.columns) == ["Age", "Title"]


def test_group_median_imputer_unseen_or_missing_group_gets_overall_median(ages: pd.DataFrame):
    imputer = GroupMedianImputer(column="Age", by="Title").fit(ages)
    new = pd.DataFrame({"Age": [np.nan, np.nan, np.nan, 33.0], "Title": ["Rev", None, "Mr", "Rev"]})

    assert imputer.transform(new)["Age"].tolist() == [40.0, 40.0, 50.0, 33.0]


def test_group_median_imputer_without_any_value_falls_back_to_zero():
    train = pd.DataFrame({"Age": [np.nan, np.nan], "Title": ["Mr", "Mrs"]})

    imputer = GroupMedianImputer().fit(train)

    assert imputer.overall_median_ == 0.0
    assert imputer.transform(train)["Age"].tolist() == [0.0, 0.0]


def test_group_median_imputer_other_columns():
    train = pd.DataFrame({"Fare": [1.0, 3.0, np.nan, 100.0], "Pclass": [3.0, 3.0, 3.0, 1.0]})

    out = GroupMedianImputer(column="Fare", by="Pclass").fit(train).transform(train)

    assert out["Fare"].tolist() == [1.0, 3.0, 2.0, 100.0]


# ---------------------------------------------------------------- common contract


def raw_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Name": pd.Series(
                ["A, Mr. X", "B, Mrs. Y", "C, Mr. Z", "D, Miss. W", "E, Rev. V"], dtype=object
            ),
            "SibSp": [0.0, 1.0, 0.0, 2.0, 0.0],
            "Parch": [0.0, 0.0, 1.0, 1.0, 0.0],
            "Ticket": pd.Series(["111", "A/5 222", "111", "PC 3", "444"], dtype=object),
            "Fare": [7.0, 50.0, np.nan, 20.0, 9.0],
            "Cabin": pd.Series([np.nan, "C85", np.nan, "B2", np.nan], dtype=object),
            "Age": [22.0, np.nan, 30.0, np.nan, 50.0],
        }
    )


def chain_input(step: str) -> pd.DataFrame:
    """Input each transformer expects: the raw frame plus what earlier steps add."""
    frame = raw_frame()
    if step == "title":
        return frame
    frame = TitleExtractor(min_count=2).fit(frame).transform(frame)
    if step == "fare_per_person":
        frame = FamilyFeatures().fit(frame).transform(frame)
    return frame


TRANSFORMERS = {
    "title": lambda: TitleExtractor(min_count=2),
    "family": FamilyFeatures,
    "cabin": CabinFeatures,
    "ticket": TicketFeatures,
    "fare_per_person": FarePerPerson,
    "age_by_title": lambda: GroupMedianImputer(column="Age", by="Title"),
}


@pytest.fixture(params=sorted(TRANSFORMERS))
def step(request: pytest.FixtureRequest) -> str:
    return request.param


def test_transformers_do_not_mutate_their_input(step: str):
    frame = chain_input(step)
    before = frame.copy()

    transformer = TRANSFORMERS[step]().fit(frame)
    transformer.transform(frame)
    transformer.fit_transform(frame)

    pd.testing.assert_frame_equal(frame, before)


def test_transformers_keep_input_columns_and_rows(step: str):
    frame = chain_input(step)

    out = TRANSFORMERS[step]().fit(frame).transform(frame)

    assert list(out.columns[: frame.shape[1]]) == list(frame.columns)
    assert list(out.index) == list(frame.index)
    unchanged = [c for c in frame.columns if c != "Age"]
    pd.testing.assert_frame_equal(out[unchanged], frame[unchanged])


def test_fitted_state_lives_in_trailing_underscore_attributes(step: str):
    transformer = TRANSFORMERS[step]()
    params_before = transformer.get_params()
    assert fitted_state(transformer) == {}

    transformer.fit(chain_input(step))

    assert "feature_names_in_" in fitted_state(transformer)
    assert transformer.get_params() == params_before
    public = {k for k in vars(transformer) if not k.startswith("_")}
    assert public - set(params_before) == set(fitted_state(transformer))


def test_transform_before_fit_raises(step: str):
    with pytest.raises(NotFittedError):
        TRANSFORMERS[step]().transform(chain_input(step))


def test_clone_gives_an_unfitted_copy_with_the_same_params(step: str):
    fitted = TRANSFORMERS[step]().fit(chain_input(step))

    copy = clone(fitted)

    assert type(copy) is type(fitted)
    assert copy.get_params() == fitted.get_params()
    assert fitted_state(copy) == {}
    out = copy.fit(chain_input(step)).transform(chain_input(step))
    pd.testing.assert_frame_equal(out, fitted.transform(chain_input(step)))


def test_clone_keeps_non_default_params():
    assert clone(TitleExtractor(min_count=3)).min_count == 3
    copy = clone(GroupMedianImputer(column="Fare", by="Pclass"))
    assert (copy.column, copy.by) == ("Fare", "Pclass")


def test_get_feature_names_out_matches_output_columns(step: str):
    frame = chain_input(step)
    transformer = TRANSFORMERS[step]().fit(frame)

    out = transformer.transform(frame)

    assert list(transformer.get_feature_names_out()) == list(out.columns)


ADDED = {
    "title": ["Title"],
    "family": ["FamilySize", "IsAlone"],
    "cabin": ["HasCabin", "Deck"],
    "ticket": ["TicketPrefix", "TicketNumberLength", "TicketGroupSize"],
    "fare_per_person": ["FarePerPerson"],
    "age_by_title": [],
}


def test_added_columns(step: str):
    frame = chain_input(step)

    out = TRANSFORMERS[step]().fit(frame).transform(frame)

    assert list(out.columns) == [*frame.columns, *ADDED[step]]


# ---------------------------------------------------------------- GroupSurvival


def _travellers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Name": ["Smith, Mr. A", "Smith, Mrs. B", "Smith, Miss. C", "Jones, Mr. D",
                     "Brown, Mr. E", "Brown, Mrs. F"],
            "Ticket": ["T1", "T1", "T1", "T2", "T3", "T4"],
            "Fare": [30.0, 30.0, 30.0, 8.0, 20.0, 20.0],
        }
    )  # fmt: skip


def test_group_survival_leaves_each_fitted_passengers_own_outcome_out():
    labels = [1, 0, 1, 0, 1, 0]

    out = GroupSurvival(prior=0.4).fit_transform(_travellers(), labels)

    # Smiths share T1: A sees B and C (1 of 2 survived), B sees A and C (2 of 2)...
    assert out["GroupSurvival"].tolist()[:3] == [0.5, 1.0, 0.5]
    # Jones travelled alone: no companion, so the prior and GroupKnown 0.
    assert out["GroupSurvival"][3] == 0.4
    assert out["GroupKnown"].tolist() == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    # The Browns had two tickets but one surname and fare: companions all the same.
    assert out["GroupSurvival"].tolist()[4:] == [0.0, 1.0]


def test_group_survival_uses_every_fitted_companion_for_new_passengers():
    transformer = GroupSurvival(prior=0.4).fit(_travellers(), [1, 0, 1, 0, 1, 0])
    newcomers = pd.DataFrame(
        {"Name": ["Smith, Master. G", "Brown, Miss. H", "Nobody, Mr. I"],
         "Ticket": ["T1", "T9", "T8"], "Fare": [30.0, 20.0, 5.0]}
    )  # fmt: skip

    out = transformer.transform(newcomers)

    assert out["GroupSurvival"].tolist() == pytest.approx([2 / 3, 0.5, 0.4])
    assert out["GroupKnown"].tolist() == [1.0, 1.0, 0.0]


def test_group_survival_cannot_be_fitted_without_labels():
    with pytest.raises(ValueError, match="needs the survival labels"):
        GroupSurvival().fit(_travellers())
