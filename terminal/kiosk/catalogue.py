"""The kiosk's menu catalogue: categories, items, option groups and prices, read from TOML.

The file is bound to frozen dataclasses by :mod:`terminal.config.binder` (unknown keys, wrong
types and missing values get one error line each), then cross-checked here: ids unique and
well-formed, every reference resolves, prices and choice counts in range, every picture present.
Every mistake is one :class:`CatalogueError` line ``"FILE: key.path: what is wrong"``.
Prices are integer minor units of the catalogue's currency (fen for CNY), never floats.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from terminal.config.binder import bind
from terminal.errors import ConfigError, TerminalError

DEFAULTS_PACKAGE = "terminal.kiosk.defaults"
PRICE_LIMIT_MINOR = 10_000_000  # prices are below this (100,000.00 in a 2-digit currency)
TAGS = ("spicy", "vegetarian", "new", "popular")  # the tags the screen has words and icons for
PICTURE_SUFFIXES = (".svg", ".png", ".webp")

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
_PICTURE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)")


class CatalogueError(ConfigError):
    """A menu file is missing, malformed or inconsistent (one line naming the file and key)."""


class UnknownEntry(TerminalError):
    """An id was looked up that the catalogue does not hold."""


@dataclass(frozen=True)
class Text:
    """A name or description in both screen languages."""

    en: str
    zh: str

    def get(self, lang: str) -> str:
        """The text in ``lang`` ("en" or "zh"); any other language gets English."""
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Option:
    """One choice inside an option group, with its surcharge in minor units (0 = free)."""

    id: str
    name: Text
    price_minor: int = 0


@dataclass(frozen=True)
class OptionGroup:
    """A set of options of which the customer picks between ``min`` and ``max`` distinct ones."""

    id: str
    name: Text
    options: tuple[Option, ...]
    min: int = 0
    max: int = 1

    @property
    def required(self) -> bool:
        """Whether the customer must pick at least one option."""
        return self.min >= 1

    def option(self, option_id: str) -> Option:
        """The option ``option_id`` of this group; :class:`UnknownEntry` when absent."""
        for option in self.options:
            if option.id == option_id:
                return option
        raise UnknownEntry(f"group {self.id!r} has no option {option_id!r}")


@dataclass(frozen=True)
class Item:
    """Something on the menu; ``groups`` are option-group ids in screen order."""

    id: str
    category: str
    name: Text
    price_minor: int
    picture: str  # a file name in pictures_dir()
    description: Text | None = None
    groups: tuple[str, ...] = ()
    combo: bool = False  # a meal: the main item plus required side and drink groups
    available: bool = True  # the catalogue's own availability; staff "sold out" is kept elsewhere
    tags: tuple[str, ...] = ()  # from TAGS


@dataclass(frozen=True)
class Category:
    """A tab of the menu screen."""

    id: str
    name: Text
    picture: str


@dataclass(frozen=True)
class Catalogue:
    """A whole validated menu; ``source`` names the file it came from."""

    currency: str
    categories: tuple[Category, ...]
    items: tuple[Item, ...]
    groups: tuple[OptionGroup, ...]
    source: str = ""

    def item(self, item_id: str) -> Item:
        """The item ``item_id``; :class:`UnknownEntry` when the menu has none."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise UnknownEntry(f"no item {item_id!r} on the menu")

    def group(self, group_id: str) -> OptionGroup:
        """The option group ``group_id``; :class:`UnknownEntry` when the menu has none."""
        for group in self.groups:
            if group.id == group_id:
                return group
        raise UnknownEntry(f"no option group {group_id!r} on the menu")

    def category(self, category_id: str) -> Category:
        """The category ``category_id``; :class:`UnknownEntry` when the menu has none."""
        for category in self.categories:
            if category.id == category_id:
                return category
        raise UnknownEntry(f"no category {category_id!r} on the menu")

    def items_in(self, category_id: str) -> tuple[Item, ...]:
        """The items of a category in file order, sold-out ones included."""
        self.category(category_id)
        return tuple(item for item in self.items if item.category == category_id)

    def groups_of(self, item: Item) -> tuple[OptionGroup, ...]:
        """The option groups of ``item`` in screen order."""
        return tuple(self.group(group_id) for group_id in item.groups)


@dataclass(frozen=True)
class _MenuFile:
    """The top level of a menu file, as bound from TOML."""

    currency: str
    categories: tuple[Category, ...]
    items: tuple[Item, ...]
    groups: tuple[OptionGroup, ...] = ()


def default_catalogue_path() -> Path:
    """The embedded default menu, used by the emulator and the demo."""
    return Path(str(resources.files(DEFAULTS_PACKAGE).joinpath("menu.toml")))


def pictures_dir() -> Path:
    """The folder of the menu's pictures, served by the kiosk's web app."""
    return Path(__file__).resolve().parent / "web" / "static" / "pictures"


def load_catalogue(path: str | Path, *, pictures: Path | None = None) -> Catalogue:
    """Load and check the menu file at ``path`` (pictures looked up in ``pictures_dir()``)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise CatalogueError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise CatalogueError(f"{source}: is a directory, not a menu file") from None
    except OSError as exc:
        raise CatalogueError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return parse_catalogue(raw, source=source, pictures=pictures)


def parse_catalogue(raw: bytes, *, source: str, pictures: Path | None = None) -> Catalogue:
    """Check TOML bytes ``raw`` as a menu; ``source`` names them in error messages."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: invalid TOML: {exc}") from None
    try:
        menu = bind(_MenuFile, data, source=source)
    except ConfigError as exc:
        raise CatalogueError(str(exc)) from None
    _Checker(source, pictures or pictures_dir()).check(menu)
    return Catalogue(currency=menu.currency, categories=menu.categories, items=menu.items,
                     groups=menu.groups, source=source)


class _Checker:
    """The cross-checks that the binder cannot do; the first mistake raises."""

    def __init__(self, source: str, pictures: Path) -> None:
        self.source = source
        self.pictures = pictures

    def fail(self, path: str, message: str) -> CatalogueError:
        return CatalogueError(f"{self.source}: {path}: {message}")

    def check(self, menu: _MenuFile) -> None:
        self.currency(menu.currency)
        if not menu.categories:
            raise self.fail("categories", "the menu needs at least one category")
        self.unique("categories", [c.id for c in menu.categories])
        for i, category in enumerate(menu.categories):
            path = f"categories[{i}]"
            self.text(f"{path}.name", category.name)
            self.picture(f"{path}.picture", category.picture)
        self.unique("groups", [g.id for g in menu.groups])
        for i, group in enumerate(menu.groups):
            self.group(f"groups[{i}]", group)
        self.unique("items", [item.id for item in menu.items])
        categories = [c.id for c in menu.categories]
        groups = {g.id: g for g in menu.groups}
        for i, item in enumerate(menu.items):
            self.item(f"items[{i}]", item, categories, groups)
        used = {item.category for item in menu.items}
        for i, category in enumerate(menu.categories):
            if category.id not in used:
                raise self.fail(f"categories[{i}]", f"category {category.id!r} has no items")

    def currency(self, currency: str) -> None:
        from payments.money import Money, MoneyError

        try:
            Money.zero(currency)
        except MoneyError:
            message = f"expected a 3-letter ISO 4217 code like 'CNY', got {currency!r}"
            raise self.fail("currency", message) from None

    def unique(self, path: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for i, value in enumerate(ids):
            if not _ID.fullmatch(value):
                raise self.fail(f"{path}[{i}].id", f"{value!r} is not a valid id "
                                "(lowercase letters, digits, '-' and '_'; at most 48)")
            if value in seen:
                raise self.fail(f"{path}[{i}].id", f"duplicate id {value!r}")
            seen.add(value)

    def text(self, path: str, text: Text) -> None:
        for lang in ("en", "zh"):
            if not getattr(text, lang).strip():
                raise self.fail(f"{path}.{lang}", "empty text")

    def price(self, path: str, price_minor: int) -> None:
        if not 0 <= price_minor < PRICE_LIMIT_MINOR:
            raise self.fail(path, f"price must be 0 or more and below {PRICE_LIMIT_MINOR} "
                            f"minor units, got {price_minor}")

    def picture(self, path: str, name: str) -> None:
        match = _PICTURE.fullmatch(name)
        if not match or ".." in name or match.group(1).lower() not in PICTURE_SUFFIXES:
            suffixes = ", ".join(PICTURE_SUFFIXES)
            raise self.fail(path, f"expected a plain picture file name ending in {suffixes}, "
                            f"got {name!r}")
        if not (self.pictures / name).is_file():
            raise self.fail(path, f"unknown picture {name!r} (not in the kiosk's pictures)")

    def group(self, path: str, group: OptionGroup) -> None:
        self.text(f"{path}.name", group.name)
        if not group.options:
            raise self.fail(f"{path}.options", "a group needs at least one option")
        self.unique(f"{path}.options", [o.id for o in group.options])
        for j, option in enumerate(group.options):
            self.text(f"{path}.options[{j}].name", option.name)
            self.price(f"{path}.options[{j}].price_minor", option.price_minor)
        if group.min < 0:
            raise self.fail(f"{path}.min", f"must be 0 or more, got {group.min}")
        if group.min > group.max:
            raise self.fail(f"{path}.min", f"min {group.min} is above max {group.max}")
        if group.max < 1:
            raise self.fail(f"{path}.max", f"must be 1 or more, got {group.max}")
        if group.max > len(group.options):
            raise self.fail(f"{path}.max", f"max {group.max} is above the "
                            f"{len(group.options)} option(s) offered")

    def item(self, path: str, item: Item, categories: list[str],
             groups: dict[str, OptionGroup]) -> None:
        if item.category not in categories:
            raise self.fail(f"{path}.category", f"unknown category {item.category!r} "
                            f"(known: {_known(categories)})")
        self.text(f"{path}.name", item.name)
        if item.description is not None:
            self.text(f"{path}.description", item.description)
        self.price(f"{path}.price_minor", item.price_minor)
        self.picture(f"{path}.picture", item.picture)
        for j, group_id in enumerate(item.groups):
            if group_id not in groups:
                raise self.fail(f"{path}.groups[{j}]", f"unknown option group {group_id!r} "
                                f"(known: {_known(groups)})")
            if group_id in item.groups[:j]:
                raise self.fail(f"{path}.groups[{j}]", f"group {group_id!r} listed twice")
        for j, tag in enumerate(item.tags):
            if tag not in TAGS:
                raise self.fail(f"{path}.tags[{j}]", f"unknown tag {tag!r} (known: {_known(TAGS)})")
            if tag in item.tags[:j]:
                raise self.fail(f"{path}.tags[{j}]", f"tag {tag!r} listed twice")
        if item.combo and not any(groups[g].required for g in item.groups):
            raise self.fail(f"{path}.combo", "a combo needs at least one required group "
                            "(min >= 1), e.g. its side or drink")


def _known(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(names) if names else "none"
