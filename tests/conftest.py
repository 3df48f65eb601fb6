"""Hypothesis profiles: "ci" is derandomized with no deadline so runs are stable and repeatable.

The "ci" profile is chosen when the CI environment variable is set (CI systems set
it) or with HYPOTHESIS_PROFILE=ci; "dev" is the default for local runs.
BLAS runs on one thread: at these matrix sizes threads cost more than they save.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
_default = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


def pytest_collection_modifyitems(items):
    # The grouped tests (the notebook runs and the site's browser test, see tests/test_notebooks.py)
    # are the longest chain of the suite: put them first, so that pytest-xdist, which hands out work
    # in collection order, starts one group on each worker and the short tests fill in around them.
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)  # stable: order kept within
