"""A named family of kind classes (transform kinds, derivations, model types): register, look up, rebuild.

Each family keeps its classes here by the name a spec uses for them; a class
registers itself with the family's decorator, so adding a kind never means
editing a list elsewhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generic, Mapping, TypeVar

Kind = TypeVar("Kind")


class Registry(Generic[Kind]):
    """Kind classes by name; `name_attribute` is the class attribute (and manifest key) holding the name."""

    def __init__(self, name_attribute: str):
        self.name_attribute = name_attribute
        self._classes: dict[str, type[Kind]] = {}

    def register(self, name: str) -> Callable[[type[Kind]], type[Kind]]:
        def register(cls: type[Kind]) -> type[Kind]:
            setattr(cls, self.name_attribute, name)
            self._classes[name] = cls
            return cls

        return register

    def names(self) -> tuple[str, ...]:
        return tuple(self._classes)

    def get(self, name: str) -> type[Kind]:
        return self._classes[name]

    def from_dict(self, data: Mapping[str, Any], default: str | None = None) -> Kind:
        """Rebuild an instance saved with `dataclasses.asdict` plus its name (already validated when saved).

        Only the class's own fields are taken: manifests written before kinds
        were classes carry every option of every kind.
        """
        cls = self._classes[data.get(self.name_attribute, default)]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})
