"""malloc keeps freed memory during tinygen's loops (tinygen/_heap.py): a training step stops faulting
its pages in again. Each case runs in a fresh process, because the setting is the whole process's
and cannot be undone."""
import subprocess
import sys

import pytest

from tinygen import fast

# A RealNVP step at batch 256 allocates arrays of 128 KB to 280 KB: the ones glibc's defaults serve
# with fresh pages. 20 steps to warm up, then the minor page faults of 40 steps, per step.
PROBE = """
import resource, sys
import numpy as np
import tinygen
from tinygen import fast
from tinygen.flows import RealNVP
if sys.argv[1] == "off":
    fast.set_heap_retention(False)
model = RealNVP(2, n_layers=4, hidden=(64, 64))
x = np.random.default_rng(0).normal(size=(2048, 2))
params, _ = tinygen.fit(model, model.init(0), x, steps=20, progress=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
tinygen.fit(model, params, x, steps=40, progress=False)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40
print(fast.is_retaining(), faults)
"""


def probe(setting):
    done = subprocess.run([sys.executable, "-c", PROBE, setting], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    retaining, faults = done.stdout.split()
    return retaining == "True", float(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux); elsewhere nothing is set")
def test_a_training_step_stops_faulting_its_pages_in():
    retaining, faults = probe("on")
    assert retaining
    # a few faults a step at most (the first touch of a larger heap); without the setting, hundreds
    assert faults < 5, faults
    # the other side: the probe does see the faults when malloc is left alone, so the bound above
    # is not met by a step that allocates nothing large
    retaining, faults = probe("off")
    assert not retaining
    assert faults > 50, faults


def test_heap_retention_rejects_a_non_bool():
    with pytest.raises(TypeError, match=r"^on: expected True or False, got int"):
        fast.set_heap_retention(1)

