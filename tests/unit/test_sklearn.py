"""semcat.sklearn.SemcatClassifier behaves as a scikit-learn classifier: it fits on texts or
a DataFrame with category paths, predicts paths, gives distributions in a documented class
order, and works in clone, cross_val_score, Pipeline and GridSearchCV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from tests.conftest import HashEmbedder

from semcat.sklearn import SemcatClassifier

WORDS = {
    "Kitchen > Mugs": "ceramic coffee mug handle cup",
    "Kitchen > Pans": "steel frying pan nonstick lid",
    "Watches > Analog": "analog wrist watch leather strap dial",
    "Watches > Smart": "smart watch fitness tracker heart",
}


def catalog(per: int = 12) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for category, words in WORDS.items():
        vocabulary = words.split()
        for i in range(per):
            texts.append(" ".join(vocabulary[(i + j) % len(vocabulary)] for j in range(3)) + f" model {i}")
            labels.append(category)
    return texts, labels


def make(**params: object) -> SemcatClassifier:
    return SemcatClassifier(embedder=HashEmbedder(), **params)  # type: ignore[arg-type]


def test_fit_predict_proba_and_score_on_texts() -> None:
    texts, labels = catalog()
    model = make().fit(texts, labels)
    assert list(model.classes_) == sorted(WORDS)  # paths, sorted: predict_proba's column order
    assert model.predict(["ceramic coffee mug"])[0] == "Kitchen > Mugs"
    proba = model.predict_proba(["ceramic coffee mug", "smart fitness tracker"])
    assert proba.shape == (2, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.classes_[proba[0].argmax()] == "Kitchen > Mugs"
    level_1, level_2 = model.predict_proba_levels(["analog wrist watch"])
    assert list(model.level_classes_[0]) == ["Kitchen", "Watches"] and level_1[0].argmax() == 1
    assert level_2.shape == (1, 4)
    assert model.score(texts, labels) > 0.9
    with pytest.raises(ValueError, match="label 1 is empty"):
        make().fit(["mug", "pan"], ["Kitchen", ""])
    with pytest.raises(NotFittedError):
        make().predict(["mug"])


def test_a_dataframe_is_read_as_a_catalog_and_depth_cuts_paths() -> None:
    texts, labels = catalog()
    frame = pd.DataFrame({"product_name": texts, "brand": ["Acme"] * len(texts)})
    model = make(depth=1).fit(frame, pd.Series(labels))
    assert list(model.classes_) == ["Kitchen", "Watches"]
    assert model.predict(pd.DataFrame({"product_name": ["leather strap analog dial"]}))[0] == "Watches"
    assert model.score(frame, labels) == 1.0  # labels cut at the predicted depth


def test_clone_cross_val_score_pipeline_and_grid_search() -> None:
    texts, labels = catalog()
    model = make(k=5)
    assert clone(model).get_params()["k"] == 5 and model.set_params(k=7).k == 7
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(make(), np.array(texts, dtype=object), np.array(labels), cv=folds)
    assert scores.shape == (3,) and scores.mean() > 0.8
    lower = FunctionTransformer(lambda xs: [x.lower() for x in xs])
    pipeline = Pipeline([("lower", lower), ("semcat", make())]).fit(texts, labels)
    assert pipeline.predict(["CERAMIC COFFEE MUG"])[0] == "Kitchen > Mugs"
    search = GridSearchCV(make(), {"k": [3, 10], "head_weight": [0.0, 0.7]}, cv=folds).fit(texts, labels)
    assert set(search.best_params_) == {"k", "head_weight"} and search.best_score_ > 0.8


# scikit-learn's checks of an estimator's interface; its data checks feed numeric 2-D arrays,
# which a text classifier does not take (its tags say so, and check_estimator skips them)
INTERFACE_CHECKS = (
    "check_get_params_invariance",
    "check_set_params",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_estimator_repr",
    "check_estimator_cloneable",
    "check_mixin_order",
    "check_valid_tag_types",
)


@pytest.mark.parametrize("name", INTERFACE_CHECKS)
def test_scikit_learns_interface_checks_pass(name: str) -> None:
    import sklearn.utils.estimator_checks as checks

    getattr(checks, name)("SemcatClassifier", make())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # the data checks, which do not apply
def test_check_estimator_passes_every_check_that_applies() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    report = check_estimator(make(), on_fail=None)
    assert report and all(r["status"] == "passed" for r in report), report
