"""The kiosk cart enforces the menu's choices, merges repeats and totals in integer minor units."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal.errors import TerminalError
from terminal.kiosk.cart import (
    Cart,
    CartError,
    TaxRule,
    Totals,
    compute_tax,
    validate_choices,
)
from terminal.kiosk.catalogue import Catalogue, load_catalogue
from tests.test_kiosk_catalogue import small_catalogue

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "menu.toml"
MENU = small_catalogue()
FULL_MENU = load_catalogue(EXAMPLE)


def refused(action) -> CartError:
    with pytest.raises(CartError) as caught:
        action()
    assert isinstance(caught.value, TerminalError)
    return caught.value


# ---------------------------------------------------------------- adding and choices

def test_adding_an_item_makes_a_line_with_its_price() -> None:
    cart = Cart(MENU)
    line = cart.add("cola")
    assert (line.line_id, line.item_id, line.quantity, line.unit_minor) == ("L1", "cola", 1, 900)
    assert line.choices == ()
    assert cart.lines == (line,)


def test_surcharges_of_chosen_options_are_in_the_unit_price() -> None:
    line = Cart(MENU).add("meal", {"drink": ["juice"], "extras": ["cheese", "bacon"]}, 2)
    assert line.unit_minor == 3500 + 300 + 200 + 400
    assert line.total_minor == 2 * 4400


def test_a_meal_without_its_required_drink_is_refused_naming_the_group() -> None:
    error = refused(lambda: Cart(MENU).add("meal", {"extras": ["cheese"]}))
    assert (error.code, error.group_id) == ("choice_required", "drink")
    assert error.text == "Please choose your drink" == str(error)
    assert error.text_in("zh") == "请选择饮品"


def test_choosing_more_options_than_a_group_allows_is_refused() -> None:
    error = refused(lambda: Cart(MENU).add("burger", {"extras": ["cheese", "bacon", "no-onion"]}))
    assert (error.code, error.group_id) == ("too_many", "extras")
    assert "at most 2" in error.text


def test_an_option_the_group_does_not_offer_is_refused() -> None:
    error = refused(lambda: Cart(MENU).add("meal", {"drink": ["beer"]}))
    assert (error.code, error.group_id) == ("unknown_option", "drink")


def test_the_same_option_twice_is_refused() -> None:
    error = refused(lambda: Cart(MENU).add("burger", {"extras": ["cheese", "cheese"]}))
    assert (error.code, error.group_id) == ("duplicate_option", "extras")


def test_choices_for_a_group_the_item_does_not_have_are_refused() -> None:
    error = refused(lambda: Cart(MENU).add("burger", {"drink": ["cola"]}))
    assert (error.code, error.group_id) == ("choice_not_offered", "drink")


def test_an_empty_selection_for_a_foreign_group_is_no_choice_at_all() -> None:
    assert Cart(MENU).add("burger", {"drink": []}).choices == ()


def test_a_group_needing_two_options_says_too_few_after_one() -> None:
    bucket = FULL_MENU.item("family-bucket")
    problems = validate_choices(FULL_MENU, bucket, {"bucket-sides": ["fries"],
                                                    "meal-drink": ["cola"]})
    assert list(problems) == ["bucket-sides"]
    assert problems["bucket-sides"].code == "too_few"
    assert problems["bucket-sides"].text == "Please choose 2 options for sides"
    none_yet = validate_choices(FULL_MENU, bucket, {"meal-drink": ["cola"]})
    assert none_yet["bucket-sides"].code == "choice_required"


def test_validate_choices_reports_every_group_at_once() -> None:
    problems = validate_choices(MENU, MENU.item("meal"),
                                {"extras": ["cheese", "bacon", "no-onion"], "sauce": ["x"]})
    assert {group: error.code for group, error in problems.items()} == {
        "drink": "choice_required", "extras": "too_many", "sauce": "choice_not_offered"}
    assert validate_choices(MENU, MENU.item("meal"), {"drink": ["cola"]}) == {}
    assert validate_choices(MENU, MENU.item("cola"), None) == {}


def test_add_reports_the_first_problem_in_screen_order() -> None:
    error = refused(lambda: Cart(MENU).add("meal", {"extras": ["egg"]}))
    assert error.group_id == "drink"


def test_a_single_string_instead_of_a_list_of_option_ids_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="sequence of option ids"):
        Cart(MENU).add("meal", {"drink": "cola"})


def test_an_item_not_on_the_menu_is_refused() -> None:
    assert refused(lambda: Cart(MENU).add("pizza")).code == "unknown_item"


def test_an_item_the_catalogue_marks_unavailable_is_sold_out() -> None:
    error = refused(lambda: Cart(MENU).add("shake"))
    assert error.code == "sold_out"
    assert error.text == "Sorry, Milkshake is sold out"
    assert error.text_in("zh") == "抱歉，奶昔已售罄"


def test_an_item_staff_marked_sold_out_is_refused() -> None:
    sold_out = {"cola"}
    cart = Cart(MENU, is_available=lambda item_id: item_id not in sold_out)
    assert refused(lambda: cart.add("cola")).code == "sold_out"
    assert cart.add("burger").item_id == "burger"
    assert cart.available("burger") and not cart.available("cola")
    assert not cart.available("pizza")


# ---------------------------------------------------------------- merging and quantities

def test_the_same_item_and_choices_merge_into_one_line_whatever_the_tap_order() -> None:
    cart = Cart(MENU)
    first = cart.add("meal", {"drink": ["cola"], "extras": ["bacon", "cheese"]})
    again = cart.add("meal", {"extras": ["cheese", "bacon"], "drink": ["cola"]}, 2)
    assert again.line_id == first.line_id == "L1"
    assert again.quantity == 3
    assert again.choices == (("drink", ("cola",)), ("extras", ("cheese", "bacon")))
    assert len(cart.lines) == 1


def test_different_choices_make_a_new_line() -> None:
    cart = Cart(MENU)
    cart.add("meal", {"drink": ["cola"]})
    other = cart.add("meal", {"drink": ["juice"]})
    assert other.line_id == "L2"
    assert [line.quantity for line in cart.lines] == [1, 1]


def test_merging_caps_the_quantity_at_the_maximum() -> None:
    cart = Cart(MENU, max_quantity=5)
    cart.add("cola", quantity=4)
    assert cart.add("cola", quantity=3).quantity == 5


@pytest.mark.parametrize(("quantity", "code"), [
    (0, "bad_quantity"), (-1, "bad_quantity"), (True, "bad_quantity"), (2.0, "bad_quantity"),
    (21, "quantity_limit"),
])
def test_adding_a_bad_quantity_is_refused(quantity, code: str) -> None:
    cart = Cart(MENU)
    assert refused(lambda: cart.add("cola", quantity=quantity)).code == code
    assert cart.is_empty()


def test_a_full_cart_refuses_a_new_line_but_still_merges() -> None:
    cart = Cart(MENU, max_lines=2)
    cart.add("cola")
    cart.add("burger")
    assert refused(lambda: cart.add("meal", {"drink": ["cola"]})).code == "cart_full"
    assert cart.add("cola").quantity == 2


def test_set_quantity_changes_a_line_and_zero_removes_it() -> None:
    cart = Cart(MENU)
    line = cart.add("cola")
    cart.set_quantity(line.line_id, 7)
    assert cart.line("L1").quantity == 7
    assert cart.line("L1").total_minor == 6300
    cart.set_quantity("L1", 0)
    assert cart.is_empty()


@pytest.mark.parametrize(("quantity", "code"), [
    (21, "quantity_limit"), (-2, "bad_quantity"), (False, "bad_quantity"),
])
def test_set_quantity_out_of_range_is_refused_and_keeps_the_line(quantity, code: str) -> None:
    cart = Cart(MENU)
    cart.add("cola", quantity=3)
    assert refused(lambda: cart.set_quantity("L1", quantity)).code == code
    assert cart.line("L1").quantity == 3


def test_unknown_lines_are_refused() -> None:
    cart = Cart(MENU)
    for action in (lambda: cart.set_quantity("L9", 1), lambda: cart.remove("L9"),
                   lambda: cart.line("L9")):
        assert refused(action).code == "unknown_line"


def test_remove_and_clear_never_reuse_a_line_id() -> None:
    cart = Cart(MENU)
    cart.add("cola")
    cart.add("burger")
    cart.remove("L1")
    assert [line.line_id for line in cart.lines] == ["L2"]
    cart.clear()
    assert cart.is_empty()
    assert cart.add("cola").line_id == "L3"


def test_lines_that_sold_out_after_adding_are_reported_and_cannot_grow() -> None:
    sold_out: set[str] = set()
    cart = Cart(MENU, is_available=lambda item_id: item_id not in sold_out)
    cart.add("cola", quantity=3)
    cart.add("burger")
    assert cart.unavailable_lines() == ()
    sold_out.add("cola")
    assert [line.item_id for line in cart.unavailable_lines()] == ["cola"]
    assert refused(lambda: cart.set_quantity("L1", 4)).code == "sold_out"
    cart.set_quantity("L1", 2)  # fewer is fine
    assert cart.line("L1").quantity == 2


def test_describe_lists_the_chosen_options_in_screen_order_in_both_languages() -> None:
    cart = Cart(MENU)
    line = cart.add("meal", {"extras": ["bacon", "cheese"], "drink": ["juice"]})
    assert cart.describe(line, "en") == "Burger Meal · Orange juice, Extra cheese, Bacon"
    assert cart.describe(line, "zh") == "汉堡套餐 · 橙汁、加芝士、培根"
    assert cart.describe(cart.add("cola"), "zh") == "可乐"


def test_lines_and_totals_have_plain_json_forms() -> None:
    cart = Cart(MENU)
    line = cart.add("meal", {"drink": ["cola"]}, 2)
    assert line.to_json() == {"line_id": "L1", "item_id": "meal", "choices": {"drink": ["cola"]},
                              "quantity": 2, "unit_minor": 3500, "total_minor": 7000}
    assert cart.totals(TaxRule()).to_json() == {
        "subtotal_minor": 7000, "tax_minor": 0, "total_minor": 7000, "currency": "CNY",
        "count": 2}


def test_every_available_item_on_the_example_menu_can_be_ordered() -> None:
    cart = Cart(FULL_MENU)
    for item in FULL_MENU.items:
        choices = {g.id: [o.id for o in g.options[:g.min]] for g in FULL_MENU.groups_of(item)}
        if item.available:
            assert cart.add(item.id, choices).unit_minor >= item.price_minor
        else:
            assert refused(lambda item=item, choices=choices: cart.add(item.id, choices)).code \
                == "sold_out"


# ---------------------------------------------------------------- totals and tax

def test_tax_included_in_prices_is_the_part_of_the_total_that_is_tax() -> None:
    cart = Cart(MENU)
    cart.add("burger")
    cart.add("cola", quantity=2)
    assert cart.totals(TaxRule(rate_bp=600, included=True)) == Totals(
        subtotal_minor=3750, tax_minor=212, total_minor=3750, currency="CNY", count=3)
    # 3750 * 0.06 / 1.06 = 212.26 -> 212


def test_tax_added_on_top_raises_the_total() -> None:
    cart = Cart(MENU)
    cart.add("burger")
    cart.add("cola", quantity=2)
    assert cart.totals(TaxRule(rate_bp=600, included=False)) == Totals(
        subtotal_minor=3750, tax_minor=225, total_minor=3975, currency="CNY", count=3)


def test_a_half_minor_unit_of_tax_rounds_up() -> None:
    cart = Cart(MENU)
    cart.add("burger")  # 1950 * 13% = 253.5
    totals = cart.totals(TaxRule(rate_bp=1300, included=False))
    assert (totals.tax_minor, totals.total_minor) == (254, 2204)


def test_tax_is_rounded_once_per_order_not_per_line() -> None:
    cart = Cart(MENU)
    cart.add("burger")
    cart.add("burger", {"extras": ["no-onion"]})  # same price, a second line
    # per line: 253.5 -> 254 twice = 508; per order: 3900 * 13% = 507.0
    assert cart.totals(TaxRule(rate_bp=1300, included=False)).tax_minor == 507


def test_an_empty_cart_totals_zero() -> None:
    assert Cart(MENU).totals(TaxRule(rate_bp=600)) == Totals(0, 0, 0, "CNY", 0)


@pytest.mark.parametrize(("subtotal", "rule", "tax"), [
    (25, TaxRule(600, included=False), 2),     # 1.50 -> 2 (half up)
    (24, TaxRule(600, included=False), 1),     # 1.44 -> 1
    (1950, TaxRule(600, included=True), 110),  # 110.38 -> 110
    (10600, TaxRule(600, included=True), 600),  # exact
    (1, TaxRule(10000, included=True), 1),     # 0.50 -> 1 (half up, included)
    (3, TaxRule(10000, included=True), 2),     # 1.50 -> 2
    (12345, TaxRule(0, included=False), 0),
])
def test_compute_tax_exact_integer_results(subtotal: int, rule: TaxRule, tax: int) -> None:
    assert compute_tax(subtotal, rule) == tax


@pytest.mark.parametrize("rate", [-1, 10_001, True, 6.0])
def test_a_tax_rate_outside_zero_to_one_hundred_percent_is_refused(rate) -> None:
    with pytest.raises(ValueError, match="rate_bp"):
        TaxRule(rate_bp=rate)


def test_a_negative_subtotal_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        compute_tax(-1, TaxRule(600))


@given(subtotal=st.integers(0, 10**12), rate=st.integers(0, 10_000), included=st.booleans())
def test_compute_tax_is_the_exact_fraction_rounded_half_up(subtotal: int, rate: int,
                                                          included: bool) -> None:
    exact = Fraction(subtotal * rate, 10_000 + rate if included else 10_000)
    assert compute_tax(subtotal, TaxRule(rate, included)) == int(exact + Fraction(1, 2))


def _orders(catalogue: Catalogue):
    """Strategy: a list of (item id, valid choices, quantity) for the available items."""
    items = [item for item in catalogue.items if item.available]

    @st.composite
    def one(draw):
        item = draw(st.sampled_from(items))
        choices = {}
        for group in catalogue.groups_of(item):
            count = draw(st.integers(group.min, group.max))
            picked = draw(st.permutations([o.id for o in group.options]))[:count]
            choices[group.id] = list(picked)
        return item.id, choices, draw(st.integers(1, 20))

    return st.lists(one(), max_size=40)


@given(orders=_orders(FULL_MENU), rate=st.integers(0, 10_000), included=st.booleans())
def test_totals_are_never_negative_and_included_tax_never_changes_the_total(
        orders, rate: int, included: bool) -> None:
    cart = Cart(FULL_MENU)
    for item_id, choices, quantity in orders:
        try:
            cart.add(item_id, choices, quantity)
        except CartError as exc:
            assert exc.code == "cart_full"
    totals = cart.totals(TaxRule(rate, included))
    assert totals.subtotal_minor == sum(line.total_minor for line in cart.lines)
    assert min(totals.subtotal_minor, totals.tax_minor, totals.total_minor) >= 0
    assert totals.count == sum(line.quantity for line in cart.lines)
    assert all(1 <= line.quantity <= cart.max_quantity for line in cart.lines)
    if included:
        assert totals.total_minor == totals.subtotal_minor
        assert totals.tax_minor <= totals.subtotal_minor
    else:
        assert totals.total_minor == totals.subtotal_minor + totals.tax_minor
