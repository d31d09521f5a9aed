"""Loads a hub-owned YAML configuration file into a pydantic model.

Validation errors name the file, the line and the setting, so the person who edited the
file can find their mistake without reading code. A key given twice in one mapping is an
error naming both lines: plain YAML loaders keep the last value silently, so a second
`consent:` line could switch a consent requirement off without anyone noticing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mash_common.errors import ConfigError

T = TypeVar("T", bound=BaseModel)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice."""


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (merge keys excepted)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are YAML's own way to override on purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                earlier = first_line.get(key)
            except TypeError:  # an unhashable key; SafeLoader reports it below
                continue
            if earlier is not None:
                raise DuplicateKeyError(
                    None, None, f"key {key!r} on line {line} repeats the key on line {earlier}",
                    key_node.start_mark)
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def strict_load(text: str) -> Any:
    """yaml.safe_load, except that a duplicated key raises DuplicateKeyError."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506  # a SafeLoader subclass


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location, as deep as it resolves."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key, value in node.value:
                if key.value == part:
                    found = value
                    line = key.start_mark.line + 1
                    break
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_yaml_model(path: Path, model: type[T]) -> T:
    """Parse and validate; raise ConfigError naming file and line on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = strict_load(text)
    except DuplicateKeyError as exc:
        raise ConfigError(f"{path}: line {exc.problem_mark.line + 1 if exc.problem_mark else '?'}: "
                          f"{exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise ConfigError(f"{path}: {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = tuple(err["loc"])
            line = _line_of(root, loc)
            where = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(f"{path}:{line or '?'}: {where}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
