"""Every docstring example in the igtwin packages runs (numpydoc Examples are tests)."""

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = [
    "igtwin.anatomies",
    "igtwin.sim",
    "igtwin.assessment",
    "igtwin.scenarios",
    "igtwin.agents",
]


def _modules():
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        yield pkg_name
        for info in pkgutil.iter_modules(pkg.__path__):
            yield f"{pkg_name}.{info.name}"


@pytest.mark.parametrize("module_name", list(_modules()))
def test_docstring_examples_run(module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:  # optional backends (SOFA, DeepDRR) import lazily inside functions
        pytest.skip(f"{module_name}: {e}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
