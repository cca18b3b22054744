"""`inventory`: stock records; two bugs fixed one after another on one repo."""
from __future__ import annotations

from .spec import Edit, Family, TaskSpec, append

__all__ = ["FAMILY"]

_STOCK = '''"""Stock records and queries."""
from dataclasses import dataclass

__all__ = ["InventoryError", "Item", "available", "parse_quantity", "total_units"]


class InventoryError(ValueError):
    """A stock record or quantity is invalid."""


@dataclass
class Item:
    sku: str
    quantity: int
    discontinued: bool = False


def available(items):
    """Items that can be sold: in stock and not discontinued."""
    return [item for item in items if item.quantity > 0 or not item.discontinued]


def parse_quantity(text):
    """Parse a quantity field; raises InventoryError on bad input."""
    value = int(text.strip())
    if value < 0:
        raise InventoryError(f"negative quantity: {value}")
    return value


def total_units(items):
    """All units in stock."""
    return sum(item.quantity for item in items)
'''

_TEST_STOCK = '''import pytest

from inventory.stock import InventoryError, Item, available, parse_quantity, total_units


def test_total_units():
    assert total_units([Item("a", 3), Item("b", 4)]) == 7


def test_available_keeps_in_stock():
    items = [Item("a", 3), Item("b", 1)]
    assert available(items) == items


def test_parse_quantity_ok():
    assert parse_quantity(" 12 ") == 12


def test_parse_quantity_negative():
    with pytest.raises(InventoryError, match="negative"):
        parse_quantity("-3")
'''

AVAILABLE = TaskSpec(
    number=1, kind="wrong condition", solve_rate=0.75,
    problem_statement=(
        "available() lists discontinued and sold-out items\n\n"
        "`available(items)` is documented to return items that are in stock AND not\n"
        "discontinued, but an item with quantity 0, or a discontinued item that still\n"
        "has stock, is returned too:\n\n"
        "    >>> available([Item('x', 5, discontinued=True), Item('y', 0)])\n"
        "    [Item(sku='x', ...), Item(sku='y', ...)]\n\nExpected `[]`."),
    fix=(Edit("inventory/stock.py", "item.quantity > 0 or not item.discontinued",
              "item.quantity > 0 and not item.discontinued"),),
    tests=(append("tests/test_stock.py", '''

def test_available_excludes_discontinued():
    assert available([Item("x", 5, discontinued=True)]) == []


def test_available_excludes_sold_out():
    assert available([Item("y", 0), Item("z", 2)]) == [Item("z", 2)]
'''),),
    wrong=(Edit("inventory/stock.py", "item.quantity > 0 or not item.discontinued",
                "item.quantity >= 0 and not item.discontinued"),),
    regression=(Edit("inventory/stock.py", "sum(item.quantity for item in items)",
                     "sum(1 for item in items)"),),
    look=("grep -n 'def available' -A3 inventory/stock.py", "grep -n available tests/test_stock.py"),
)

PARSE = TaskSpec(
    number=2, kind="exception handling", solve_rate=0.5,
    problem_statement=(
        "parse_quantity() leaks a bare ValueError on non-numeric input\n\n"
        "Callers catch `InventoryError` for bad records, but\n\n"
        "    >>> parse_quantity('abc')\n"
        "    ValueError: invalid literal for int() with base 10: 'abc'\n\n"
        "escapes as a plain ValueError. It should raise InventoryError with the message\n"
        "`not a number: 'abc'` (the text as given, quoted with repr)."),
    fix=(Edit("inventory/stock.py", "    value = int(text.strip())\n",
              "    try:\n        value = int(text.strip())\n    except ValueError:\n"
              "        raise InventoryError(f\"not a number: {text!r}\") from None\n"),),
    tests=(append("tests/test_stock.py", '''

def test_parse_quantity_rejects_text():
    with pytest.raises(InventoryError, match="not a number: 'abc'"):
        parse_quantity("abc")


def test_parse_quantity_rejects_empty():
    with pytest.raises(InventoryError, match="not a number"):
        parse_quantity("")
'''),),
    wrong=(Edit("inventory/stock.py", "    value = int(text.strip())\n",
                "    try:\n        value = int(text.strip())\n    except ValueError:\n"
                "        raise ValueError(f\"not a number: {text!r}\") from None\n"),),
    regression=(Edit("inventory/stock.py", "    value = int(text.strip())\n",
                     "    value = abs(int(text.strip()))\n"),),
    look=("grep -n 'def parse_quantity' -A6 inventory/stock.py", "grep -n 'class' inventory/stock.py"),
)

FAMILY = Family(
    name="inventory",
    files={
        "inventory/__init__.py": '"""Stock keeping."""\n',
        "inventory/stock.py": _STOCK,
        "tests/test_stock.py": _TEST_STOCK,
    },
    tasks=(AVAILABLE, PARSE),
)
