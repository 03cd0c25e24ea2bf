"""Where s3meta relies on its dependencies' private code: one module per upstream library.

Each module refuses at import a release outside the series it was written against
(``require``), and each of its patches lists the upstream callables it overrides or calls
(``Mirrored``), so that a unit test fails as soon as an upgrade renames one or changes its
signature. A patch is one small unit naming the upstream behaviour it mends: when upstream
mends it, the unit is deleted and nothing else changes.

- ``s3meta.compat.kombu``: the SQS transport (``Transport``), per-process control queues,
  acknowledged messages deleted in batches, kombu's SQS message encoding for batched sends.
- ``s3meta.compat.celery``: the worker state a closing channel reads, Celery's task
  messages for batched sends, the result backend a task may store its SUCCESS row through
  (``DatabaseResults``, by the ``Loader``), the worker command's ``--pool`` (a pool given
  wins over the configured default, ``ExplicitPool``).
- ``s3meta.compat.celery_results``: Celery's result tables and its rule for writing a row
  (``ResultRows``, in the transaction of the task's own rows), importing no Celery, so that
  the Lambda package migrates the same schema.
- ``s3meta.compat.moto``: moto's SQS queues made safe for concurrent clients.
- ``s3meta.compat.flower``: Flower's command options, event capture and broker page.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import Any

from s3meta.errors import ConfigError

Series = tuple[tuple[int, int], tuple[int, int]]


class UnsupportedRelease(ConfigError):
    """An installed dependency is outside the release series s3meta's patches mirror."""


def release(version: str) -> tuple[int, int]:
    """The (major, minor) of a version string such as ``5.7.0`` or ``2.2rc1``."""
    found = re.match(r"(\d+)(?:\.(\d+))?", version)
    if found is None:
        raise UnsupportedRelease(f"cannot read a release number from version {version!r}")
    return int(found[1]), int(found[2] or 0)


def check_release(distribution: str, version: str, series: Series, patches: str) -> None:
    """Raise ``UnsupportedRelease`` unless ``series[0] <= version < series[1]``."""
    low, high = series
    if not low <= release(version) < high:
        raise UnsupportedRelease(
            f"{distribution} {version} is installed, but {patches} mirrors "
            f"{distribution} {low[0]}.{low[1]}.x: install {distribution}~={low[0]}.{low[1]}.0 "
            f"or check its patches against {version}"
        )


def require(distribution: str, series: Series, patches: str) -> str:
    """The installed version of ``distribution``, checked against ``series``."""
    version = metadata.version(distribution)
    check_release(distribution, version, series, patches)
    return version


# What ``replace`` put in place of an upstream attribute, and that attribute, by (id of
# owner, name): while the replacement is there, ``Mirrored`` checks the upstream one.
_REPLACED: dict[tuple[int, str], tuple[object, object]] = {}


def replace(owner: Any, name: str, replacement: object) -> None:
    """Set ``owner.name`` to ``replacement``, keeping the upstream attribute to be checked."""
    _REPLACED[id(owner), name] = (replacement, inspect.getattr_static(owner, name))
    setattr(owner, name, replacement)


def upstream(owner: object, name: str) -> object:
    """``owner.name`` as upstream has it, under any replacement ``replace`` made."""
    found = inspect.getattr_static(owner, name)
    replacement, original = _REPLACED.get((id(owner), name), (None, None))
    return original if replacement is not None and found is replacement else found


@dataclass(frozen=True)
class Mirrored:
    """An upstream attribute a patch overrides or uses, as it is in the release mirrored.

    ``parameters`` are the names in a callable's signature (``self`` included for methods,
    the getter's for a property); None for an attribute that only has to exist.
    """

    owner: object  # a class, or a module's dotted name
    name: str
    parameters: tuple[str, ...] | None = None

    def drift(self) -> str | None:
        """What changed upstream, or None if the attribute is as mirrored."""
        owner = import_module(self.owner) if isinstance(self.owner, str) else self.owner
        where = f"{_name_of(owner)}.{self.name}"
        try:
            found = upstream(owner, self.name)
        except AttributeError:
            return f"{where} no longer exists"
        if self.parameters is None:
            return None
        # Properties, cached properties, static and class methods: the function inside.
        for wrapped in ("fget", "func", "__func__"):
            found = getattr(found, wrapped, found)
        if not callable(found):
            return f"{where} is no longer callable"
        actual = tuple(inspect.signature(found).parameters)
        if actual != self.parameters:
            return f"{where} now takes {actual}; the patch mirrors {self.parameters}"
        return None


def _name_of(owner: object) -> str:
    name = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", None)
    module = getattr(owner, "__module__", None)
    if name and module and not isinstance(owner, type(inspect)):
        return f"{module}.{name}"
    return str(name or owner)


def drifted(mirrored: Iterable[Mirrored]) -> list[str]:
    """Every way the upstream code differs from what the patches mirror."""
    return [found for item in mirrored if (found := item.drift()) is not None]
