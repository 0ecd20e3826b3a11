"""The kiosk's cart: lines of catalogue items with the customer's choices, and order totals.

Every amount is integer minor units of the catalogue's currency. A line's unit price is the
item's price plus the surcharges of the chosen options; choices are checked against the item's
option groups (each group takes ``min..max`` distinct options of its own). Adding the same item
with the same choices again raises that line's quantity instead of adding a line.

Tax is computed once per order, on the subtotal, and rounded half up to a whole minor unit:
with tax included in prices (China's fapiao prices) the total is the subtotal and the tax is the
part of it that is tax, ``subtotal * rate / (1 + rate)``; with tax added on top the total is the
subtotal plus ``subtotal * rate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from terminal.errors import TerminalError
from terminal.kiosk.catalogue import Catalogue, Item, OptionGroup, Text, UnknownEntry

Choices = tuple[tuple[str, tuple[str, ...]], ...]

BASIS_POINTS = 10_000


class CartError(TerminalError):
    """A cart action the screen must refuse, with a code and plain words in both languages.

    Codes: ``choice_required`` (nothing picked in a required group), ``too_few``, ``too_many``,
    ``unknown_option``, ``duplicate_option``, ``choice_not_offered`` (a group the item lacks) —
    these carry the ``group_id`` to highlight — and ``unknown_item``, ``sold_out``,
    ``bad_quantity``, ``quantity_limit``, ``cart_full``, ``unknown_line``.
    """

    def __init__(self, code: str, texts: Text, group_id: str | None = None) -> None:
        super().__init__(texts.en)
        self.code = code
        self.texts = texts
        self.text = texts.en
        self.group_id = group_id  # the option group to highlight on the item screen, if any

    def text_in(self, lang: str) -> str:
        """The message in ``lang`` ("en" or "zh"; any other gets English)."""
        return self.texts.get(lang)


@dataclass(frozen=True)
class TaxRule:
    """Tax in basis points (600 = 6%), either included in prices or added on top."""

    rate_bp: int = 0
    included: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.rate_bp, bool) or not isinstance(self.rate_bp, int):
            raise ValueError(f"rate_bp must be an integer number of basis points, "
                             f"got {self.rate_bp!r}")
        if not 0 <= self.rate_bp <= BASIS_POINTS:
            raise ValueError(f"rate_bp must be between 0 and {BASIS_POINTS} basis points "
                             f"(600 = 6%), got {self.rate_bp}")


@dataclass(frozen=True)
class CartLine:
    """One line of the cart: an item, its choices per group (screen order) and a quantity."""

    line_id: str
    item_id: str
    choices: Choices
    quantity: int
    unit_minor: int  # item price + option surcharges

    @property
    def total_minor(self) -> int:
        """Unit price times quantity."""
        return self.unit_minor * self.quantity

    def chosen(self, group_id: str) -> tuple[str, ...]:
        """The option ids chosen in ``group_id`` (empty when none)."""
        return dict(self.choices).get(group_id, ())

    def to_json(self) -> dict[str, Any]:
        """Plain data for the page, the order record and logs."""
        return {"line_id": self.line_id, "item_id": self.item_id,
                "choices": {group: list(options) for group, options in self.choices},
                "quantity": self.quantity, "unit_minor": self.unit_minor,
                "total_minor": self.total_minor}


@dataclass(frozen=True)
class Totals:
    """The money of a whole order and how many items it holds."""

    subtotal_minor: int
    tax_minor: int
    total_minor: int
    currency: str
    count: int

    def to_json(self) -> dict[str, Any]:
        """Plain data for the page, the receipt and logs."""
        return {"subtotal_minor": self.subtotal_minor, "tax_minor": self.tax_minor,
                "total_minor": self.total_minor, "currency": self.currency, "count": self.count}


def compute_tax(subtotal_minor: int, tax: TaxRule) -> int:
    """Tax on a subtotal (contained in it, or on top of it), rounded half up once."""
    if subtotal_minor < 0:
        raise ValueError(f"subtotal must not be negative, got {subtotal_minor}")
    if tax.included:
        return _div_half_up(subtotal_minor * tax.rate_bp, BASIS_POINTS + tax.rate_bp)
    return _div_half_up(subtotal_minor * tax.rate_bp, BASIS_POINTS)


def _div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves up (both >= 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def validate_choices(catalogue: Catalogue, item: Item,
                     choices: Mapping[str, Sequence[str]] | None) -> dict[str, CartError]:
    """Every problem with ``choices`` for ``item``, keyed by option-group id (empty when fine)."""
    choices = choices or {}
    problems: dict[str, CartError] = {}
    for group_id, picked in choices.items():
        if group_id not in item.groups and picked:
            problems[group_id] = CartError(
                "choice_not_offered",
                Text(en=f"{item.name.en} has no such choice",
                     zh=f"{item.name.zh}没有这个选项"),
                group_id)
    for group in catalogue.groups_of(item):
        picked = _as_ids(choices.get(group.id, ()), group.id)
        problem = _group_problem(group, picked)
        if problem is not None:
            problems[group.id] = problem
    return problems


def _as_ids(picked: Sequence[str], group_id: str) -> list[str]:
    if isinstance(picked, str | bytes):
        raise TypeError(f"choices for {group_id!r} must be a sequence of option ids, "
                        f"not one string")
    return list(picked)


def _group_problem(group: OptionGroup, picked: list[str]) -> CartError | None:
    name = group.name
    offered = {option.id for option in group.options}
    if any(option_id not in offered for option_id in picked):
        return CartError("unknown_option",
                         Text(en=f"That choice is not offered for {name.en.lower()}",
                              zh=f"{name.zh}没有这个选项"), group.id)
    if len(set(picked)) != len(picked):
        return CartError("duplicate_option",
                         Text(en="Each option can be chosen once",
                              zh="每个选项只能选一次"), group.id)
    if not picked and group.min == 1:
        return CartError("choice_required", Text(en=f"Please choose your {name.en.lower()}",
                                                 zh=f"请选择{name.zh}"), group.id)
    if len(picked) < group.min:
        texts = Text(en=f"Please choose {group.min} options for {name.en.lower()}",
                     zh=f"{name.zh}请选择{group.min}项")
        return CartError("choice_required" if not picked else "too_few", texts, group.id)
    if len(picked) > group.max:
        return CartError("too_many",
                         Text(en=f"Choose at most {group.max} options for {name.en.lower()}",
                              zh=f"{name.zh}最多选择{group.max}项"), group.id)
    return None


class Cart:
    """The customer's order being built; lines keep their ids ("L1", "L2", ...) for the page."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        max_quantity: int = 20,
        max_lines: int = 30,
        is_available: Callable[[str], bool] = lambda item_id: True,
    ) -> None:
        if max_quantity < 1 or max_lines < 1:
            raise ValueError("max_quantity and max_lines must be 1 or more")
        self.catalogue = catalogue
        self.max_quantity = max_quantity
        self.max_lines = max_lines
        self._is_available = is_available  # staff "sold out" marks, asked on every add
        self._lines: list[CartLine] = []
        self._next = 1

    @property
    def lines(self) -> tuple[CartLine, ...]:
        """The lines in the order they were first added."""
        return tuple(self._lines)

    def is_empty(self) -> bool:
        """Whether the cart holds no line."""
        return not self._lines

    def line(self, line_id: str) -> CartLine:
        """The line ``line_id``; :class:`CartError` ``unknown_line`` when it is not in the cart."""
        return self._lines[self._index(line_id)]

    def available(self, item_id: str) -> bool:
        """Whether ``item_id`` can be ordered now (catalogue flag and staff sold-out marks)."""
        try:
            item = self.catalogue.item(item_id)
        except UnknownEntry:
            return False
        return item.available and bool(self._is_available(item_id))

    def add(self, item_id: str, choices: Mapping[str, Sequence[str]] | None = None,
            quantity: int = 1) -> CartLine:
        """Add ``quantity`` of an item with ``choices``; the same item and choices merge."""
        try:
            item = self.catalogue.item(item_id)
        except UnknownEntry:
            raise CartError("unknown_item", Text(en="That item is not on the menu",
                                                 zh="菜单上没有这个餐品")) from None
        if not self.available(item_id):
            raise _sold_out(item)
        self._check_quantity(quantity)
        problems = validate_choices(self.catalogue, item, choices)
        if problems:
            raise _first(problems, item)
        normal = self._normalise(item, choices or {})
        for i, line in enumerate(self._lines):
            if line.item_id == item_id and line.choices == normal:
                merged = replace(line, quantity=min(line.quantity + quantity, self.max_quantity))
                self._lines[i] = merged
                return merged
        if len(self._lines) >= self.max_lines:
            raise CartError("cart_full", Text(
                en=f"The cart is full ({self.max_lines} lines); please pay for this order first",
                zh=f"购物车已满({self.max_lines}项)，请先结账"))
        line = CartLine(line_id=f"L{self._next}", item_id=item_id, choices=normal,
                        quantity=quantity, unit_minor=self._unit_price(item, normal))
        self._next += 1
        self._lines.append(line)
        return line

    def set_quantity(self, line_id: str, quantity: int) -> None:
        """Set a line's quantity: 0 removes it, 1..max_quantity keeps it."""
        index = self._index(line_id)
        if quantity == 0 and not isinstance(quantity, bool):
            del self._lines[index]
            return
        self._check_quantity(quantity)
        line = self._lines[index]
        if quantity > line.quantity and not self.available(line.item_id):
            raise _sold_out(self.catalogue.item(line.item_id))
        self._lines[index] = replace(line, quantity=quantity)

    def remove(self, line_id: str) -> None:
        """Take a line out of the cart."""
        del self._lines[self._index(line_id)]

    def clear(self) -> None:
        """Empty the cart (line ids keep counting, so an old id never names a new line)."""
        self._lines.clear()

    def totals(self, tax: TaxRule) -> Totals:
        """Subtotal, tax and total of the whole cart (tax rounded half up once per order)."""
        subtotal = sum(line.total_minor for line in self._lines)
        tax_minor = compute_tax(subtotal, tax)
        total = subtotal if tax.included else subtotal + tax_minor
        return Totals(subtotal_minor=subtotal, tax_minor=tax_minor, total_minor=total,
                      currency=self.catalogue.currency,
                      count=sum(line.quantity for line in self._lines))

    def describe(self, line: CartLine, lang: str) -> str:
        """One line for receipts, e.g. "Crunch Burger Meal · Fries (large), Cola"."""
        item = self.catalogue.item(line.item_id)
        names = [self.catalogue.group(group_id).option(option_id).name.get(lang)
                 for group_id, option_ids in line.choices for option_id in option_ids]
        if not names:
            return item.name.get(lang)
        separator = "、" if lang == "zh" else ", "
        return f"{item.name.get(lang)} · {separator.join(names)}"

    def unavailable_lines(self) -> tuple[CartLine, ...]:
        """Lines whose item became sold out after it was added."""
        return tuple(line for line in self._lines if not self.available(line.item_id))

    def _index(self, line_id: str) -> int:
        for i, line in enumerate(self._lines):
            if line.line_id == line_id:
                return i
        raise CartError("unknown_line", Text(en="That line is no longer in the cart",
                                             zh="购物车里已没有这一项"))

    def _check_quantity(self, quantity: int) -> None:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise CartError("bad_quantity", Text(en="The quantity must be at least 1",
                                                 zh="数量至少为1"))
        if quantity > self.max_quantity:
            raise CartError("quantity_limit", Text(
                en=f"At most {self.max_quantity} of one item per order",
                zh=f"每单同一餐品最多{self.max_quantity}份"))

    def _normalise(self, item: Item, choices: Mapping[str, Sequence[str]]) -> Choices:
        """Choices in screen order: groups as the item lists them, options as the group does."""
        normal = []
        for group in self.catalogue.groups_of(item):
            picked = set(choices.get(group.id, ()))
            if picked:
                normal.append((group.id, tuple(o.id for o in group.options if o.id in picked)))
        return tuple(normal)

    def _unit_price(self, item: Item, choices: Choices) -> int:
        surcharges = sum(self.catalogue.group(group_id).option(option_id).price_minor
                         for group_id, option_ids in choices for option_id in option_ids)
        return item.price_minor + surcharges


def _sold_out(item: Item) -> CartError:
    return CartError("sold_out", Text(en=f"Sorry, {item.name.en} is sold out",
                                      zh=f"抱歉，{item.name.zh}已售罄"))


def _first(problems: dict[str, CartError], item: Item) -> CartError:
    """The problem the customer meets first: choices not offered, then groups in screen order."""
    for group_id, problem in problems.items():
        if group_id not in item.groups:
            return problem
    for group_id in item.groups:
        if group_id in problems:
            return problems[group_id]
    return next(iter(problems.values()))
