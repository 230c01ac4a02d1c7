"""Real catalog exports are read as they come: each format's fixture (a few made-up rows
written from the format's public documentation) is read without any flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from semcat.catalog import read_catalog

EXPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "exports"

# file -> (id, title, brand, category path of the first product, column map it shows)
CASES = {
    "shopify_products.csv": (
        "classic-crew-tee",
        "Classic crew neck t-shirt",
        "Northwind",
        ("Apparel & Accessories", "Clothing", "Shirts & Tops"),
        "id=Handle, title=Title, description=Body (HTML), brand=Vendor, category=Product Category",
    ),
    "woocommerce_products.csv": (
        "101",
        "Zip hoodie with pocket",
        "",
        ("Clothing", "Hoodies"),
        "id=ID, title=Name, description=Description, category=Categories",
    ),
    "google_merchant_feed.tsv": (
        "GM-001",
        "Stainless steel water bottle 750 ml",
        "HydroPeak",
        ("Home & Garden", "Kitchen & Dining", "Food & Beverage Carriers", "Water Bottles"),
        "id=id, title=title, description=description, brand=brand, category=google_product_category",
    ),
    "amazon_uk_products.csv": (
        "a1b2c3",
        "Wooden railway starter set",
        "Toyland",
        ("Hobbies", "Model Trains & Railway Sets", "Rail Vehicles", "Trains"),
        "id=uniq_id, title=product_name, description=product_description, brand=manufacturer, "
        "category=amazon_category_and_sub_category",
    ),
    "amazon_products_main_sub.csv": (
        "2",  # no id column: the row number (the header is row 1)
        "Bluetooth over-ear headphones with noise cancelling",
        "",
        ("tv audio & cameras", "Headphones"),
        "title=name, image=image, category=main_category+sub_category",
    ),
    "open_food_facts.csv": (
        "3017620422003",
        "Hazelnut cocoa spread",
        "Nutty",
        ("Cocoa and hazelnuts spreads",),
        "id=code, title=product_name, description=generic_name, brand=brands, category=main_category_en",
    ),
    "fashion_styles.csv": (
        "15970",
        "Turtle Check Men Navy Blue Shirt",
        "",
        ("Apparel", "Topwear", "Shirts"),
        "id=id, title=productDisplayName, category=masterCategory+subCategory+articleType",
    ),
    "excel_unicode_text.tsv": (
        "U1",
        "Linen tea towel",
        "",
        ("Home", "Kitchen Textiles"),
        "id=id, title=name, category=category",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_is_read_without_flags(name: str) -> None:
    pid, title, brand, category, columns = CASES[name]
    report = read_catalog(EXPORTS / name)
    assert report.columns.describe() == columns
    assert not report.rejected and report.labeled == len(report.products) >= 2
    first = report.products[0]
    assert (first.id, first.title, first.brand, first.category) == (pid, title, brand, category)
    assert report.labels_warning is None


def test_shopify_html_description_is_text() -> None:
    first = read_catalog(EXPORTS / "shopify_products.csv").products[0]
    assert first.description == "Soft organic cotton tee with a relaxed fit."


def test_a_catalog_without_labels_says_which_columns_it_saw(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("sku,name,price\n1,red mug,3\n2,blue mug,4\n")
    report = read_catalog(path)
    warning = report.labels_warning
    assert warning is not None and "no category column was found (columns: sku, name, price)" in warning
    assert "--category-col" in warning
    assert not any("no product has a category" in line for line in report.summary_lines())  # `semcat index` says it
