"""Catalog reading: formats, layout detection, taxonomy paths, bad rows and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semcat.catalog import ColumnMap, Product, parse_attributes, parse_category, read_catalog
from semcat.errors import CatalogError, InvalidInputError

FLIPKART_HEADER = "uniq_id,product_name,product_category_tree,image,description,brand\n"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["Watches >> Wrist Watches >> Titan"]', ("Watches", "Wrist Watches", "Titan")),
        ("Home > Kitchen > Knives", ("Home", "Kitchen", "Knives")),
        ("A >> B", ("A", "B")),
        ("Baby Care", ("Baby Care",)),
        (["Toys", " Puzzles "], ("Toys", "Puzzles")),
        ("", ()),
        (None, ()),
    ],
)
def test_parse_category_paths(value: object, expected: tuple[str, ...]) -> None:
    assert parse_category(value) == expected


def test_flipkart_layout_is_detected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fk.csv",
        FLIPKART_HEADER
        + 'a1,Titan Analog Watch,"[""Watches >> Wrist Watches >> Titan Wrist Watches""]",'
        + 'a1.jpg,"A watch, steel",Titan\r\n'
        + 'b2,Baby Romper,"[""Baby Care >> Infant Wear""]",b2.jpg,Soft cotton,\r\n',
    )
    report = read_catalog(path)
    assert [p.id for p in report.products] == ["a1", "b2"]
    watch = report.products[0]
    assert watch.category == ("Watches", "Wrist Watches", "Titan Wrist Watches")
    assert watch.category_path == "Watches > Wrist Watches > Titan Wrist Watches"
    assert watch.image == "a1.jpg"
    # brand already in the title is not repeated in the embedded text
    assert watch.text() == "Titan Analog Watch. A watch, steel"
    assert report.columns.category == ["product_category_tree"]


def test_plain_category_column_and_formats(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "title": "Red shirt", "category": "Clothing > Shirts"},
        {"id": "2", "title": "Blue jeans", "category": "Clothing >> Jeans"},
    ]
    tsv = write(
        tmp_path,
        "c.tsv",
        "id\ttitle\tcategory\n" + "".join(f"{r['id']}\t{r['title']}\t{r['category']}\n" for r in rows),
    )
    jsonl = write(tmp_path, "c.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (tsv, jsonl, parquet):
        report = read_catalog(path)
        assert [p.category for p in report.products] == [("Clothing", "Shirts"), ("Clothing", "Jeans")], path


def test_semicolon_csv_is_sniffed(tmp_path: Path) -> None:
    path = write(tmp_path, "fr.csv", "id;libelle;marque;categorie\n1;Perceuse sans fil;Bosch;Bricolage\n")
    product = read_catalog(path).products[0]
    assert (product.title, product.brand, product.category) == ("Perceuse sans fil", "Bosch", ("Bricolage",))


def test_level_columns_form_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, "cd.csv", "Categorie1,Categorie2,Categorie3,Libelle\nAUTO,PNEU,ETE,Pneu 205/55 R16\n")
    report = read_catalog(path)
    assert report.products[0].category == ("AUTO", "PNEU", "ETE")
    assert report.products[0].id == "2"  # no id column: the row number
    assert any("no id column" in note for note in report.notes)


def test_explicit_mapping_and_unknown_column(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "sku,name,dept,sub\nX1,Hammer,Tools,Hand tools\n")
    report = read_catalog(path, ColumnMap(id="sku", title="name", category=["dept", "sub"]))
    assert report.products[0] == Product(id="X1", title="Hammer", category=("Tools", "Hand tools"))
    with pytest.raises(CatalogError, match="category column 'nope' is not in the file; its columns are: sku, name"):
        read_catalog(path, ColumnMap(category=["nope"]))


def test_malformed_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        "id,title,description,category\n"
        "1,Good product,fine,A\n"
        ",No id here,text,A\n"
        "3,,,A\n"
        "4,Too,many,fields,here,A\n"
        "5,Another good one,,B\n",
    )
    report = read_catalog(path)
    assert [p.id for p in report.products] == ["1", "5"]
    reasons = {r.row: r.reason for r in report.rejected}
    assert set(reasons) == {3, 4, 5}
    assert "no id" in reasons[3]
    assert "no text" in reasons[4]
    assert "has 6 fields but the header has 4" in reasons[5]
    text = "\n".join(report.summary_lines())
    assert "rejected rows: 3" in text and "row 4: no text" in text


def test_duplicate_ids_last_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.csv", "id,title,category\n1,Old title,A\n2,Other,B\n1,New title,C\n")
    report = read_catalog(path)
    assert [(p.id, p.title) for p in report.products] == [("2", "Other"), ("1", "New title")]
    assert report.duplicates == {"1": [2, 4]}
    assert "the last row of each wins" in "\n".join(report.summary_lines())


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path, "p.jsonl", '{"id": "1", "title": "Lamp", "category": ["Home", "Lighting"]}\n{broken\n[1, 2]\n'
    )
    report = read_catalog(path)
    assert report.products[0].category == ("Home", "Lighting")
    assert [r.row for r in report.rejected] == [2, 3]
    assert "unparsable JSON" in report.rejected[0].reason


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "is empty"),
        ("blank.csv", "\n\n", "is empty"),
        ("header.csv", "id,title,category\n", "has a header but no product rows"),
        ("notext.csv", "id,price,category\n1,3.5,A\n", "no text column found"),
        ("catalog.xlsx", "x", "cannot tell the format"),
    ],
)
def test_unreadable_files_raise_clear_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        read_catalog(write(tmp_path, name, content))


def test_non_utf8_file_names_line_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.csv", "id,title\n1,Caf\u00e9 cr\u00e8me\n", encoding="cp1252")
    with pytest.raises(CatalogError, match=r"not valid utf-8 text \(byte 0xe9 on line 2\).*--encoding cp1252"):
        read_catalog(path)
    assert read_catalog(path, encoding="cp1252").products[0].title == "Café crème"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog file not found"):
        read_catalog(tmp_path / "nope.csv")


def test_product_build_validates() -> None:
    with pytest.raises(InvalidInputError, match="has no text"):
        Product.build(id="x", title="  ")
    assert Product.build(id="x", title="Mug", category="Kitchen > Mugs").category == ("Kitchen", "Mugs")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (  # Flipkart's Ruby-style dump
            '{"product_specification"=>[{"key"=>"Type", "value"=>"Mug"}, {"key"=>"Material", "value"=>"Ceramic"}]}',
            "Type: Mug; Material: Ceramic",
        ),
        ('{"product_specification"=>nil}', ""),
        ('{"Type": "Mug", "Colors": ["Red", "Blue"]}', "Type: Mug; Colors: Red, Blue"),
        ('[{"name": "Size", "value": "L"}, {"key": "Fit", "value": "Slim"}]', "Size: L; Fit: Slim"),
        ({"Type": "Mug", "Empty": None}, "Type: Mug"),
        ("Dishwasher safe,  350 ml", "Dishwasher safe, 350 ml"),
        ('{"broken json', '{"broken json'),
        (None, ""),
    ],
)
def test_parse_attributes_formats(value: object, expected: str) -> None:
    assert parse_attributes(value) == expected


def test_attributes_column_is_read_into_the_text(tmp_path: Path) -> None:
    """Specifications are product text: detected by name (product_specifications, attributes,
    specs...), flattened, embedded after the description and kept in the payload."""
    spec = '"{""product_specification""=>[{""key""=>""Ideal For"", ""value""=>""Baby Boys""}]}"'
    path = write(tmp_path, "fk.csv", "uniq_id,product_name,description,product_specifications\n")
    path.write_text(path.read_text() + f"t1,Cotton Towel,Soft.,{spec}\n")
    product = read_catalog(path).products[0]
    assert product.attributes == "Ideal For: Baby Boys"
    assert product.text() == "Cotton Towel. Soft. Ideal For: Baby Boys"
    assert product.text(("title", "description")) == "Cotton Towel. Soft"
    assert Product.from_payload(product.payload()) == product
    custom = write(tmp_path, "c.csv", 'sku,name,feats\n1,Mug,"{""Volume"": ""350 ml""}"\n')
    report = read_catalog(custom, ColumnMap(id="sku", attributes="feats"))
    assert report.products[0].attributes == "Volume: 350 ml" and "attributes=feats" in report.summary_lines()[0]
