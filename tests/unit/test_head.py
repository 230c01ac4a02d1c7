"""The linear head: trained on the store's labeled products, with word and character rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.unit.test_lexical import CATALOG

from semcat.catalog import Product
from semcat.config import Settings
from semcat.embedding.lexical import LexicalEncoder
from semcat.engine import Engine
from semcat.spaces import LEXICAL_SPACE


def test_linear_head_is_trained_on_the_store_and_follows_writes(tmp_path: Path) -> None:
    """The head sees every stored product; after a write it is retrained in the background
    while the previous one answers, and a category added through the API is predicted at
    once (the vote speaks for a category the head does not know yet)."""
    from tests.conftest import HashEmbedder

    settings = Settings(data_dir=tmp_path / "head", head_weight=0.7, k=3)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        head = engine.head()
        assert head is not None and head.products == len(CATALOG)
        assert {p[0] for p in head.paths} == {"Office", "Garden"}
        assert engine.head() is head  # nothing changed: not retrained
        new = [
            ("k1", "Espresso machine 15 bar", "Kitchen > Coffee"),
            ("k2", "Coffee grinder burr espresso", "Kitchen > Coffee"),
            ("k3", "Milk frother for espresso", "Kitchen > Coffee"),
        ]
        engine.upsert_products([Product.build(id=i, title=t, category=c) for i, t, c in new])
        prediction = engine.categorize(["espresso coffee machine"])[0]  # the old head still answers
        assert prediction.main_category == "Kitchen" and prediction.method == "knn"
        retrained = engine.head(wait=True)
        assert retrained is not head and {p[0] for p in retrained.paths} == {"Office", "Garden", "Kitchen"}
        assert engine.categorize(["espresso coffee machine"])[0].main_category == "Kitchen"
        engine.delete_product("k3")
        assert engine.head(wait=True).products == len(CATALOG) + 2


def test_char_rows_link_words_the_word_rows_keep_apart() -> None:
    """Plurals and compounds share character n-grams where they share no word."""
    words, chars = LexicalEncoder(), LexicalEncoder("char")
    (w1, _), (w2, _) = words.encode(["coques", "coque"])
    (c1, v1), (c2, _) = chars.encode(["coques", "coque"])
    assert not set(w1) & set(w2)
    assert len(set(c1) & set(c2)) >= 3 and np.isclose(np.linalg.norm(v1), 1.0)
    with pytest.raises(ValueError, match="unknown analyzer"):
        LexicalEncoder("bytes")


def test_head_character_block_categorizes_an_unseen_word_form() -> None:
    """A query whose only word never occurs in the store ("coques", the catalog says
    "coque") is still placed by its character n-grams; without them the head can only
    guess."""
    from semcat.categorize.head import LinearHead
    from semcat.spaces import CHAR_SPACE

    titles = {
        "Phone": ["coque silicone iphone", "coque rigide samsung", "coque cuir xiaomi", "coque pour pixel"],
        "Kitchen": ["poele inox induction", "poele fonte grill", "casserole inox", "casserole cuivre"],
    }
    texts = [t for ts in titles.values() for t in ts]
    labels = [c for c, ts in titles.items() for _ in ts]
    dense = np.zeros((len(texts), 8), dtype=np.float32)  # no semantic help: words and n-grams only
    words, chars = LexicalEncoder(), LexicalEncoder("char")
    with_chars = LinearHead(dense, words.encode(texts), labels, chars=chars.encode(texts))
    without = LinearHead(dense, words.encode(texts), labels)
    assert with_chars.spaces == (LEXICAL_SPACE, CHAR_SPACE) and without.spaces == (LEXICAL_SPACE,)
    query = {"text": np.zeros((1, 8), np.float32), LEXICAL_SPACE: words.encode(["coques"])}
    query[CHAR_SPACE] = chars.encode(["coques"])
    phone = with_chars.paths.index(("Phone",))
    assert with_chars.probabilities(query)[0, phone] > 0.8
    gibberish = {"text": query["text"], LEXICAL_SPACE: words.encode(["zzxq"])}
    # without them "coques" reads like gibberish: the head answers from its intercepts alone
    assert np.allclose(without.probabilities(query), without.probabilities(gibberish))


def test_character_rows_are_computed_only_for_queries_the_head_judges(tmp_path: Path) -> None:
    """The head reads characters only for knn queries (over all categories or within a
    caller's subtree, where it judges that subtree's levels); a hybrid query or a
    zero-shot one does not pay for them."""
    from tests.conftest import HashEmbedder

    from semcat.categorize import QueryRows
    from semcat.spaces import CHAR_SPACE

    with Engine(Settings(data_dir=tmp_path / "q", head_weight=0.7), embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        query = engine.model.embedder.encode_texts(["toner cartridge"])
        sparse = engine.store().meta.sparse

        def with_lexical(method: str, category: str | None = None) -> dict:
            options = engine.options(method=method, category=category)
            return QueryRows().add(query, ["toner cartridge"], options, store_sparse=sparse, head_chars=True)

        assert set(with_lexical("knn")) == {"text", LEXICAL_SPACE, CHAR_SPACE}
        assert set(with_lexical("hybrid")) == {"text", LEXICAL_SPACE}
        restricted = with_lexical("knn", category="Office")
        assert set(restricted) == {"text", LEXICAL_SPACE, CHAR_SPACE}
        assert set(with_lexical("zero-shot")) == {"text"}
        # and the restricted query is still categorized within its subtree
        prediction = engine.categorize([Product(id="q", title="toner cartridge")], category="Office")[0]
        assert prediction.main_category == "Office"
