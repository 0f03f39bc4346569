"""Built-in named anatomies, built on demand and cached, and the generator dispatch.

Names: ``arch-I``, ``arch-II``, ``arch-III``, ``arch-bovine`` (aortic arches with their
supra-aortic branches in a thorax CT), ``liver-1`` (abdomen with a liver and two lesions),
``lung-1`` (thorax with a 15 mm lung nodule). Each is a fixed call of a procedural generator
with a fixed seed, so a built-in is the same on every machine.

Cache: ``load_builtin`` saves the built anatomy folder under ``<root>/<name>-<version>`` where
``root`` is ``cache_dir``, else ``$IGTWIN_CACHE/anatomies``, else ``~/.cache/igtwin/anatomies``;
``version`` changes whenever a generator's output changes, so a stale cache is never read.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._anatomy import Anatomy, AnatomyExistsError

__all__ = ["BuiltinAnatomy", "list_builtin", "load_builtin", "generate", "GENERATORS"]

#: Bumped when the thorax or any generator changes its output (part of the cache key).
LIBRARY_VERSION = "3"


@dataclass(frozen=True)
class BuiltinAnatomy:
    """A named built-in anatomy.

    Attributes
    ----------
    name : str
        Name used by :func:`load_builtin` and scenario files (``"arch-II"``).
    description : str
        One line for listings.
    factory : callable
        ``factory() -> Anatomy``: builds it (seconds).
    version : str
        Cache key; changes whenever the factory's output changes.
    """

    name: str
    description: str
    factory: Callable[[], Anatomy]
    version: str


def _arch(t: str, seed: int) -> Callable[[], Anatomy]:
    def f() -> Anatomy:
        from ._arch import generate_aortic_arch

        a = generate_aortic_arch(t, seed=seed)
        a.name = f"arch-{t}"
        return a

    return f


def _liver(seed: int) -> Callable[[], Anatomy]:
    def f() -> Anatomy:
        from ._liver import generate_liver

        a = generate_liver(lesions=2, seed=seed)
        a.name = "liver-1"
        return a

    return f


def _lung(seed: int) -> Callable[[], Anatomy]:
    def f() -> Anatomy:
        from ._lung import generate_lung

        a = generate_lung(nodule_mm=15.0, seed=seed)
        a.name = "lung-1"
        return a

    return f


def _version(kind: str) -> str:
    if kind == "arch":
        from ._arch import GENERATOR_VERSION
    elif kind == "liver":
        from ._liver import GENERATOR_VERSION
    else:
        from ._lung import GENERATOR_VERSION
    return f"{LIBRARY_VERSION}.{GENERATOR_VERSION}"


_DESCR = {
    "arch-I": "Type I aortic arch (BCT origin < 1 LCCA diameter below the apex) in a thorax CT",
    "arch-II": "Type II aortic arch (BCT origin 1-2 LCCA diameters below the apex) in a thorax CT",
    "arch-III": "Type III aortic arch (BCT origin > 2 LCCA diameters below the apex) in a thorax CT",
    "arch-bovine": "Bovine aortic arch (LCCA arising from the BCT) in a thorax CT",
    "liver-1": "Abdomen CT with a liver and two hypodense lesions (ablation/biopsy targets)",
    "lung-1": "Thorax CT with a 15 mm solid lung nodule (biopsy target)",
}
_FACTORIES = {
    "arch-I": (_arch("I", 1), "arch"),
    "arch-II": (_arch("II", 1), "arch"),
    "arch-III": (_arch("III", 1), "arch"),
    "arch-bovine": (_arch("bovine", 1), "arch"),
    "liver-1": (_liver(1), "liver"),
    "lung-1": (_lung(1), "lung"),
}


def list_builtin() -> list[BuiltinAnatomy]:
    """All built-in anatomies, in a fixed order."""
    return [
        BuiltinAnatomy(name, _DESCR[name], fac, _version(kind))
        for name, (fac, kind) in _FACTORIES.items()
    ]


def _get(name: str) -> BuiltinAnatomy:
    for b in list_builtin():
        if b.name == name:
            return b
    names = list(_FACTORIES)
    lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(str(name).lower(), list(lower), n=1, cutoff=0.4)
    hint = f" Did you mean {lower[close[0]]!r}?" if close else ""
    raise ValueError(f"unknown built-in anatomy {name!r}; known {names}.{hint}")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Folder holding cached built-ins (see the module docstring for the order of choice)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("IGTWIN_CACHE")
    if env:
        return Path(env) / "anatomies"
    return Path.home() / ".cache" / "igtwin" / "anatomies"


def load_builtin(name: str, *, cache_dir: str | Path | None = None) -> Anatomy:
    """Load a built-in anatomy, building and caching it on first use.

    Parameters
    ----------
    name : str
        One of the names of :func:`list_builtin` (``"arch-II"`` ...).
    cache_dir : path, optional
        Cache root; default ``$IGTWIN_CACHE/anatomies`` or ``~/.cache/igtwin/anatomies``.

    Returns
    -------
    Anatomy
        Read from ``<cache root>/<name>-<version>`` (built there first if missing).

    Raises
    ------
    ValueError
        For an unknown name (with a "did you mean").

    Examples
    --------
    >>> [b.name for b in list_builtin()][:2]
    ['arch-I', 'arch-II']
    """
    b = _get(name)
    folder = cache_root(cache_dir) / f"{b.name}-{b.version}"
    if (folder / "manifest.json").is_file():
        try:
            return Anatomy.load(folder)
        except Exception:  # a corrupt cache entry: rebuild it
            pass
    anatomy = b.factory()
    anatomy.meta = {**anatomy.meta, "builtin": b.name, "builtin_version": b.version}
    try:
        anatomy.save(folder, overwrite=(folder / "manifest.json").is_file() or folder.exists())
    except AnatomyExistsError:  # another process won the race: theirs is the same
        pass
    except OSError:  # read-only cache: still return the built anatomy
        return anatomy
    return Anatomy.load(folder)


# ----------------------------------------------------------------------------- dispatch
def _target(kind: str):
    if kind == "aortic-arch":
        from ._arch import generate_aortic_arch as f
    elif kind == "liver":
        from ._liver import generate_liver as f
    else:
        from ._lung import generate_lung as f
    return f


#: Generator kinds accepted by :func:`generate`.
GENERATORS = ("aortic-arch", "liver", "lung")


def generate(kind: str, *, seed: int, **params) -> Anatomy:
    """Run a procedural generator by kind (what the CLI's ``igtwin generate`` calls).

    Parameters
    ----------
    kind : {"aortic-arch", "liver", "lung"}
        Which generator.
    seed : int
        Seed (the result is deterministic for a seed and parameters).
    **params
        The generator's keyword parameters, e.g. ``arch_type="III"``, ``voxel_size=1.0``
        (aortic-arch); ``lesions=3`` (liver); ``nodule_mm=12.0`` (lung).

    Raises
    ------
    ValueError
        For an unknown kind or parameter (the message lists the accepted ones), or a bad value.
    """
    if kind not in GENERATORS:
        close = difflib.get_close_matches(str(kind), GENERATORS, n=2, cutoff=0.4)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown generator kind {kind!r}; expected one of {list(GENERATORS)}.{hint}"
        )
    f = _target(kind)
    accepted = [p for p in inspect.signature(f).parameters if p != "seed"]
    for p in params:
        if p not in accepted:
            close = difflib.get_close_matches(p, accepted, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"generator {kind!r} has no parameter {p!r}; accepted: {accepted}.{hint}"
            )
    return f(seed=seed, **params)
