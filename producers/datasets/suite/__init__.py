"""The bundled task suite, written down as families of repos and their bugs."""
from . import inventory, numbers, runtime, textkit
from .spec import Edit, Family, TaskSpec

__all__ = ["FAMILIES", "Edit", "Family", "TaskSpec"]

FAMILIES: tuple[Family, ...] = (textkit.FAMILY, inventory.FAMILY, *numbers.FAMILIES,
                                *runtime.FAMILIES)
