"""Run the demo and exercise notebooks as a student's Jupyter would, and keep their outputs.

The course site shows every notebook executed, with its figures and printed numbers. Those
outputs are never typed: they come from running the notebook here, in a fresh ``python3``
kernel (nbclient), in a fresh working folder, with PYTHONPATH pointing at this checkout.

    python docs/run_notebooks.py [--full] [--only 00,exercises/01]

writes each executed notebook to ``build/executed/<mode>/<path under demos/>.ipynb`` with the
wall-clock seconds it took and a SHA-256 of the notebook and of tinygen's sources, so a
later site build re-runs a notebook only when it or tinygen has changed since. ``<mode>`` is ``quick`` (TINYGEN_QUICK=1,
the demos' tiny sizes: what the site shows by default) or ``full`` (the demos' defaults).
docs/lab_plan.py uses the same runs to measure how long each notebook takes.
"""
import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos"
STORE = ROOT / "build" / "executed"
QUICK_ENV = "TINYGEN_QUICK"  # the switch tinygen.recipes.quick() reads
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "MPLBACKEND")  # a student's kernel has none of these set
META_KEY = "tinygen_run"  # notebook metadata written beside the outputs


def notebooks():
    """Every demo and exercise notebook, demos first, each list in file-name order (found by glob)."""
    return sorted(DEMOS.glob("[0-9][0-9]_*.ipynb")) + sorted(DEMOS.glob("exercises/[0-9][0-9]_*.ipynb"))


def name_of(path):
    """The notebook's path under demos/ without its suffix, e.g. 'exercises/01_mle_heads'."""
    return path.relative_to(DEMOS).with_suffix("").as_posix()


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def inputs_digest(path):
    """SHA-256 of what a run's outputs depend on: the notebook and every source file of tinygen."""
    h = hashlib.sha256(Path(path).read_bytes())
    for source in sorted((ROOT / "tinygen").rglob("*.py")):
        h.update(source.relative_to(ROOT).as_posix().encode() + b"\0" + source.read_bytes())
    return h.hexdigest()


def stored_path(path, mode="quick"):
    return STORE / mode / (name_of(path) + ".ipynb")


def stored(path, mode="quick", current=True):
    """The executed copy of the notebook at path, or None when there is none or (current=True)
    when it ran on another version of the notebook or of tinygen."""
    import nbformat
    out = stored_path(path, mode)
    if not out.is_file():
        return None
    nb = nbformat.read(out, as_version=4)
    if META_KEY not in nb.metadata:
        return None
    return nb if not current or is_current(nb, path) else None


def is_current(nb, path):
    return nb.metadata[META_KEY].get("inputs_sha256") == inputs_digest(path)


def kernel_env(mode):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.pop(QUICK_ENV, None)
    if mode == "quick":
        env[QUICK_ENV] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def kernel_manager(folder):
    """A manager for one fresh python3 kernel that talks over Unix sockets in ``folder`` (where the
    system has them), not TCP ports.

    jupyter_client picks free TCP ports, closes them, then hands them to the kernel to bind; two
    kernels started at the same moment (the test suite runs two workers) can pick the same port, and
    one dies before replying ("Address already in use"). Socket files in a folder of the run's own
    cannot collide. Keep ``folder`` short: a socket path has a limit of about 100 characters.
    """
    from jupyter_client import KernelManager
    if os.name != "posix":  # no Unix sockets: TCP, as jupyter_client does by default
        return KernelManager(kernel_name="python3")
    return KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(folder, "kernel"))


def execute(path, mode="quick", timeout=3600):
    """Run the notebook at path in a fresh kernel; store and return (executed notebook, seconds).

    The seconds are wall-clock time from the kernel's start to the last cell's end, as a
    student who opens the notebook and runs every cell waits for it. A cell that raises
    stops the run with nbclient's CellExecutionError: the site never shows a broken run.
    """
    import nbclient
    import nbformat
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as work:  # the figures it writes land here, then go
        client = nbclient.NotebookClient(nb, km=kernel_manager(work), kernel_name="python3", timeout=timeout,
                                         resources={"metadata": {"path": work}})
        load = os.getloadavg()[0]  # how busy the machine was: the seconds mean little without it
        start = time.perf_counter()
        client.execute(env=kernel_env(mode), cwd=work)
        seconds = time.perf_counter() - start
    store(path, nb, seconds, mode, load)
    return nb, seconds


def store(path, nb, seconds, mode="quick", load=None):
    """Keep an executed copy of the notebook at path, with what it ran on, for the site to show.

    tests/test_notebooks.py stores its quick runs here too, so the site's browser test in the same
    suite shows them instead of running every notebook a second time. The file is written whole
    and then renamed into place: a build reading the store at the same moment sees the old file
    or the new one, never half of one.
    """
    import nbformat
    nb.metadata[META_KEY] = {"inputs_sha256": inputs_digest(path), "seconds": round(seconds, 1), "mode": mode,
                             "load_before": None if load is None else round(load, 1),
                             "date": time.strftime("%Y-%m-%d")}
    out = stored_path(path, mode)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    nbformat.write(nb, partial)
    os.replace(partial, out)


def select(only):
    """The notebooks whose name starts with one of the comma-separated prefixes (all when None)."""
    found = notebooks()
    if not only:
        return found
    prefixes = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [p for p in found if any(name_of(p).startswith(pre) for pre in prefixes)]
    if not chosen:
        raise SystemExit(f"--only: expected prefixes of {[name_of(p) for p in found]}, got {only!r}")
    return chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the demos' default sizes (not TINYGEN_QUICK=1)")
    parser.add_argument("--only", help="comma-separated name prefixes, e.g. 00,exercises/01")
    parser.add_argument("--force", action="store_true", help="re-run notebooks whose stored run is current")
    args = parser.parse_args(argv)
    mode = "full" if args.full else "quick"
    for path in select(args.only):
        if not args.force and stored(path, mode) is not None:
            print(f"{name_of(path)}: stored run is current")
            continue
        _, seconds = execute(path, mode)
        print(f"{name_of(path)}: {seconds:.1f} s ({mode})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
