"""The kiosk's menu loads from TOML; every mistake in it is one line naming the file and key."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from terminal.errors import ConfigError, TerminalError
from terminal.kiosk.catalogue import (
    TAGS,
    Catalogue,
    CatalogueError,
    Text,
    UnknownEntry,
    default_catalogue_path,
    load_catalogue,
    parse_catalogue,
    pictures_dir,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "configs" / "menu.toml"

SMALL_MENU = """
currency = "CNY"

[[categories]]
id = "burgers"
name = { en = "Burgers", zh = "汉堡" }
picture = "burger.svg"

[[categories]]
id = "drinks"
name = { en = "Drinks", zh = "饮品" }
picture = "cola.svg"

[[groups]]
id = "drink"
name = { en = "Drink", zh = "饮品" }
min = 1
max = 1
options = [
    { id = "cola", name = { en = "Cola", zh = "可乐" } },
    { id = "juice", name = { en = "Orange juice", zh = "橙汁" }, price_minor = 300 },
]

[[groups]]
id = "extras"
name = { en = "Extras", zh = "加料" }
max = 2
options = [
    { id = "cheese", name = { en = "Extra cheese", zh = "加芝士" }, price_minor = 200 },
    { id = "bacon", name = { en = "Bacon", zh = "培根" }, price_minor = 400 },
    { id = "no-onion", name = { en = "No onion", zh = "不要洋葱" } },
]

[[items]]
id = "burger"
category = "burgers"
name = { en = "Burger", zh = "汉堡" }
price_minor = 1950
picture = "burger.svg"
groups = ["extras"]

[[items]]
id = "meal"
category = "burgers"
name = { en = "Burger Meal", zh = "汉堡套餐" }
price_minor = 3500
picture = "meal.svg"
groups = ["drink", "extras"]
combo = true

[[items]]
id = "cola"
category = "drinks"
name = { en = "Cola", zh = "可乐" }
price_minor = 900
picture = "cola.svg"

[[items]]
id = "shake"
category = "drinks"
name = { en = "Milkshake", zh = "奶昔" }
price_minor = 1200
picture = "sundae.svg"
available = false
"""


def small_catalogue() -> Catalogue:
    """The small menu above, for the cart's tests too."""
    return parse_catalogue(SMALL_MENU.encode(), source="menu.toml")


def error_of(text: str) -> str:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text.encode("utf-8"), source="menu.toml")
    message = str(caught.value)
    assert "\n" not in message, "an error is one line"
    return message


def edited(old: str, new: str, *, count: int = 1) -> str:
    assert SMALL_MENU.count(old) >= count, f"test fixture has no {old!r}"
    return SMALL_MENU.replace(old, new, count)


# ---------------------------------------------------------------- the menus we ship

def test_example_menu_loads_with_a_real_menu_s_shape() -> None:
    menu = load_catalogue(EXAMPLE)
    assert menu.currency == "CNY"
    assert len(menu.categories) >= 5
    assert len(menu.items) >= 16
    assert any(not item.available for item in menu.items), "a sold-out case for the screen"
    assert menu.source == str(EXAMPLE)


def test_example_menu_meals_require_a_side_and_a_drink() -> None:
    menu = load_catalogue(EXAMPLE)
    combos = [item for item in menu.items if item.combo]
    assert combos
    for item in combos:
        required = [g.id for g in menu.groups_of(item) if g.required]
        assert any("drink" in g for g in required), item.id
        assert any("side" in g for g in required), item.id


def test_example_menu_prices_look_like_a_chinese_fast_food_kiosk() -> None:
    menu = load_catalogue(EXAMPLE)
    assert menu.item("crunch-burger").price_minor == 1950
    assert menu.item("crunch-burger-meal").price_minor == 3500
    assert menu.item("cola").price_minor == 900


def test_embedded_default_menu_equals_the_example_in_configs() -> None:
    example = load_catalogue(EXAMPLE)
    default = load_catalogue(default_catalogue_path())
    assert dataclasses.replace(default, source="") == dataclasses.replace(example, source="")


def test_every_name_on_the_example_menu_has_english_and_chinese() -> None:
    menu = load_catalogue(EXAMPLE)
    names = [c.name for c in menu.categories] + [i.name for i in menu.items]
    names += [g.name for g in menu.groups] + [o.name for g in menu.groups for o in g.options]
    for name in names:
        assert name.en.strip() and re.search(r"[\u4e00-\u9fff]", name.zh), name


def test_example_menu_uses_only_known_tags() -> None:
    menu = load_catalogue(EXAMPLE)
    assert {tag for item in menu.items for tag in item.tags} <= set(TAGS)


# ---------------------------------------------------------------- lookups

def test_lookups_find_items_groups_and_categories() -> None:
    menu = small_catalogue()
    assert menu.item("meal").combo is True
    assert menu.group("drink").required is True
    assert menu.group("extras").required is False
    assert menu.group("extras").option("bacon").price_minor == 400
    assert menu.category("drinks").name.get("zh") == "饮品"
    assert [g.id for g in menu.groups_of(menu.item("meal"))] == ["drink", "extras"]


def test_items_in_a_category_keep_file_order_and_include_sold_out_ones() -> None:
    menu = small_catalogue()
    assert [i.id for i in menu.items_in("burgers")] == ["burger", "meal"]
    assert [i.id for i in menu.items_in("drinks")] == ["cola", "shake"]


@pytest.mark.parametrize("lookup", [
    lambda m: m.item("pizza"), lambda m: m.group("sauce"), lambda m: m.category("soup"),
    lambda m: m.items_in("soup"), lambda m: m.group("extras").option("egg"),
])
def test_unknown_ids_raise_unknown_entry(lookup) -> None:
    with pytest.raises(UnknownEntry) as caught:
        lookup(small_catalogue())
    assert isinstance(caught.value, TerminalError)


def test_text_falls_back_to_english_for_other_languages() -> None:
    text = Text(en="Fries", zh="薯条")
    assert (text.get("en"), text.get("zh"), text.get("fr")) == ("Fries", "薯条", "Fries")


def test_catalogue_error_is_a_config_error() -> None:
    assert issubclass(CatalogueError, ConfigError)


# ---------------------------------------------------------------- one line per mistake

@pytest.mark.parametrize(("menu", "expected"), [
    pytest.param(edited("price_minor = 1950\n", 'price_minor = 1950\ncolour = "red"\n'),
                 "menu.toml: items[0].colour: unknown key (allowed here: ", id="unknown-key"),
    pytest.param(edited("price_minor = 1950", 'price_minor = "19.50"'),
                 "menu.toml: items[0].price_minor: expected an integer, got string '19.50'",
                 id="price-as-string"),
    pytest.param(edited("price_minor = 1950", "price_minor = 19.5"),
                 "menu.toml: items[0].price_minor: expected an integer, got number 19.5",
                 id="price-as-float"),
    pytest.param(edited("combo = true", 'combo = "yes"'),
                 "menu.toml: items[1].combo: expected true or false, got string 'yes'",
                 id="combo-not-boolean"),
    pytest.param(edited('groups = ["extras"]', 'groups = "extras"'),
                 "menu.toml: items[0].groups: expected a list of a string", id="groups-not-list"),
    pytest.param(edited('name = { en = "Burger", zh = "汉堡" }', 'name = { en = "Burger" }'),
                 "menu.toml: items[0].name.zh: missing value (expected a string)",
                 id="missing-chinese-name"),
    pytest.param(edited('name = { en = "Burger", zh = "汉堡" }', 'name = "Burger"'),
                 "menu.toml: items[0].name: expected a table, got string 'Burger'",
                 id="name-not-a-table"),
    pytest.param(edited('zh = "汉堡" }\nprice', 'zh = " " }\nprice'),
                 "menu.toml: items[0].name.zh: empty text", id="empty-name"),
    pytest.param(edited('picture = "burger.svg"\ngroups', 'groups'),
                 "menu.toml: items[0].picture: missing value", id="missing-picture"),
    pytest.param('source = "x"\n' + SMALL_MENU,
                 "menu.toml: source: unknown key", id="source-is-not-a-file-key"),
    pytest.param(edited('currency = "CNY"', 'currency = "yuan"'),
                 "menu.toml: currency: expected a 3-letter ISO 4217 code like 'CNY', got 'yuan'",
                 id="bad-currency"),
    pytest.param(edited('currency = "CNY"', ""),
                 "menu.toml: currency: missing value (expected a string)", id="missing-currency"),
    pytest.param(edited('id = "cola"\ncategory', 'id = "burger"\ncategory'),
                 "menu.toml: items[2].id: duplicate id 'burger'", id="duplicate-item"),
    pytest.param(edited('id = "drinks"', 'id = "burgers"'),
                 "menu.toml: categories[1].id: duplicate id 'burgers'", id="duplicate-category"),
    pytest.param(edited('id = "extras"', 'id = "drink"'),
                 "menu.toml: groups[1].id: duplicate id 'drink'", id="duplicate-group"),
    pytest.param(edited('{ id = "bacon"', '{ id = "cheese"'),
                 "menu.toml: groups[1].options[1].id: duplicate id 'cheese'",
                 id="duplicate-option"),
    pytest.param(edited('id = "burger"', 'id = "Big Burger"'),
                 "menu.toml: items[0].id: 'Big Burger' is not a valid id", id="bad-id"),
    pytest.param(edited('category = "drinks"\nname = { en = "Cola"',
                        'category = "drinkz"\nname = { en = "Cola"'),
                 "menu.toml: items[2].category: unknown category 'drinkz' "
                 "(known: burgers, drinks)", id="unknown-category"),
    pytest.param(edited('groups = ["extras"]', 'groups = ["extraz"]'),
                 "menu.toml: items[0].groups[0]: unknown option group 'extraz' "
                 "(known: drink, extras)", id="unknown-group"),
    pytest.param(edited('groups = ["extras"]', 'groups = ["extras", "extras"]'),
                 "menu.toml: items[0].groups[1]: group 'extras' listed twice",
                 id="group-listed-twice"),
    pytest.param(edited('picture = "meal.svg"', 'picture = "pizza.svg"'),
                 "menu.toml: items[1].picture: unknown picture 'pizza.svg'",
                 id="unknown-picture"),
    pytest.param(edited('picture = "meal.svg"', 'picture = "../pictures/meal.svg"'),
                 "menu.toml: items[1].picture: expected a plain picture file name",
                 id="picture-with-a-path"),
    pytest.param(edited('picture = "meal.svg"', 'picture = "meal.exe"'),
                 "menu.toml: items[1].picture: expected a plain picture file name ending in .svg",
                 id="picture-not-an-image"),
    pytest.param(edited('picture = "cola.svg"', 'picture = "kola.svg"'),
                 "menu.toml: categories[1].picture: unknown picture 'kola.svg'",
                 id="unknown-category-picture"),
    pytest.param(edited("max = 2", "min = 3\nmax = 2"),
                 "menu.toml: groups[1].min: min 3 is above max 2", id="min-above-max"),
    pytest.param(edited("max = 2", "max = 4"),
                 "menu.toml: groups[1].max: max 4 is above the 3 option(s) offered",
                 id="max-above-options"),
    pytest.param(edited("max = 2", "min = -1\nmax = 2"),
                 "menu.toml: groups[1].min: must be 0 or more, got -1", id="negative-min"),
    pytest.param(edited("max = 2", "max = 0"),
                 "menu.toml: groups[1].max: must be 1 or more, got 0", id="zero-max"),
    pytest.param(edited("price_minor = 1950", "price_minor = -100"),
                 "menu.toml: items[0].price_minor: price must be 0 or more and below 10000000 "
                 "minor units, got -100", id="negative-price"),
    pytest.param(edited("price_minor = 1950", "price_minor = 10_000_000"),
                 "menu.toml: items[0].price_minor: price must be 0 or more and below 10000000",
                 id="price-too-high"),
    pytest.param(edited("price_minor = 400", "price_minor = -400"),
                 "menu.toml: groups[1].options[1].price_minor: price must be 0 or more",
                 id="negative-surcharge"),
    pytest.param(edited('groups = ["drink", "extras"]', 'groups = ["extras"]'),
                 "menu.toml: items[1].combo: a combo needs at least one required group",
                 id="combo-without-required-group"),
    pytest.param(edited('groups = ["extras"]', 'groups = ["extras"]\ntags = ["spicey"]'),
                 "menu.toml: items[0].tags[0]: unknown tag 'spicey' (known: spicy, ",
                 id="unknown-tag"),
    pytest.param(edited('groups = ["extras"]', 'groups = ["extras"]\ntags = ["new", "new"]'),
                 "menu.toml: items[0].tags[1]: tag 'new' listed twice", id="duplicate-tag"),
    pytest.param(SMALL_MENU + '[[categories]]\nid = "soups"\nname = { en = "Soups", zh = "汤" }\n'
                 'picture = "coffee.svg"\n',
                 "menu.toml: categories[2]: category 'soups' has no items", id="empty-category"),
    pytest.param('currency = "CNY"\ncategories = []\nitems = []\n',
                 "menu.toml: categories: the menu needs at least one category",
                 id="no-categories"),
    pytest.param(edited('price_minor = 1950', 'price_minor = 1950\ndescription = "Tasty"'),
                 "menu.toml: items[0].description: expected a table, got string 'Tasty'",
                 id="description-not-bilingual"),
])
def test_a_bad_catalogue_gets_one_line_naming_the_file_and_key(menu: str, expected: str) -> None:
    assert error_of(menu).startswith(expected)


def test_a_group_without_options_is_refused() -> None:
    menu = edited('[[groups]]\nid = "extras"',
                  '[[groups]]\nid = "empty"\nname = { en = "Empty", zh = "空" }\noptions = []\n\n'
                  '[[groups]]\nid = "extras"')
    assert error_of(menu).startswith(
        "menu.toml: groups[1].options: a group needs at least one option")


def test_bad_bytes_bad_toml_and_missing_files_get_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "menu.toml"
    bad.write_bytes(b'currency = "CNY"\n\xff\xfe')
    with pytest.raises(CatalogueError, match=r"menu\.toml: not UTF-8 text \(byte 17\)$"):
        load_catalogue(bad)
    bad.write_text("[[items]\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"menu\.toml: invalid TOML: "):
        load_catalogue(bad)
    with pytest.raises(CatalogueError, match=r"absent\.toml: file not found$"):
        load_catalogue(tmp_path / "absent.toml")
    with pytest.raises(CatalogueError, match="is a directory"):
        load_catalogue(tmp_path)


def test_load_names_the_path_it_was_given(tmp_path: Path) -> None:
    path = tmp_path / "shop-menu.toml"
    path.write_text(edited('currency = "CNY"', 'currency = "cny"'), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert str(caught.value).startswith(f"{path}: currency: ")


def test_pictures_can_come_from_another_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"categories\[0\]\.picture: unknown picture"):
        parse_catalogue(SMALL_MENU.encode(), source="menu.toml", pictures=tmp_path)
    for name in ("burger.svg", "cola.svg", "meal.svg", "sundae.svg"):
        (tmp_path / name).write_bytes((pictures_dir() / name).read_bytes())
    assert parse_catalogue(SMALL_MENU.encode(), source="menu.toml", pictures=tmp_path).items


# ---------------------------------------------------------------- the pictures

PICTURES = sorted(pictures_dir().glob("*.svg"))


def test_every_bundled_picture_is_used_by_the_example_menu() -> None:
    menu = load_catalogue(EXAMPLE)
    used = {i.picture for i in menu.items} | {c.picture for c in menu.categories}
    assert {p.name for p in PICTURES} == used


@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_pictures_are_small_self_contained_svgs_without_text(path: Path) -> None:
    raw = path.read_bytes()
    assert len(raw) < 4096
    root = ET.fromstring(raw)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 200 200"
    tags = {element.tag.split("}")[-1] for element in root.iter()}
    assert not tags & {"text", "image", "foreignObject", "script", "style"}
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.endswith("href"):
                assert value.startswith("#"), f"external reference {value!r}"
            assert "url(" not in value or value.startswith("url(#"), value


def test_pyproject_ships_the_pictures_in_the_package() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.svg" in pyproject["tool"]["setuptools"]["package-data"]["*"]
