"""The cost curve's words and tables come from benchmarks/results_cost.json, never typed.

Fast: no torch, no timing; the rendering in benchmarks/cost_tables.py on made-up figures,
the paragraph in docs/benchmarks.md against the stored results, and the benchmark's data.
"""
import os
import sys

import numpy as onp
import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(ROOT, "benchmarks"))  # after everything else: shadows nothing
import bench_cost  # noqa: E402
import bench_profile  # noqa: E402
import cost_tables  # noqa: E402
import docs_tables  # noqa: E402

RUN = {"command": "python benchmarks/bench_cost.py", "date": "2026-01-02 03:04 UTC", "machine": "a CPU",
       "seconds": 90.0, "lr": 1e-3, "seed": 0, "quick": False, "blocks": 2, "block_seconds": 0.1, "repeats": 1,
       "n_train": 10, "n_log_p": 100}


def results(train, log_p=()):
    """A results_cost.json with chosen figures: train = [(tinygen, torch f32, torch f64) steps/s],
    log_p = [(tinygen, f32, f64) seconds]; one made-up configuration each."""
    base = {"model": "made", "label": "MADE", "D": 2, "width": 64, "params": 7}
    return {"run": dict(RUN), "models": {"made": "MADE"}, "data": {"2": "two moons"}, "z_dim": {"2": 2},
            "train": [{**base, "batch": 64 * (i + 1), "block": 5, "steps_per_s": dict(zip(cost_tables.SIDES, v))}
                      for i, v in enumerate(train)],
            "log_p": [{**base, "n": 100, "seconds": dict(zip(cost_tables.SIDES, v))} for v in log_p]}


def test_docs_paragraph_is_the_one_results_cost_json_renders():
    with open(docs_tables.BENCHMARKS_PAGE) as f:
        page = f.read()
    stored = docs_tables.marked(page, docs_tables.COST_BEGIN, docs_tables.COST_END)
    assert stored == docs_tables.render_cost().strip("\n"), \
        "docs/benchmarks.md's cost curve is stale: run python benchmarks/docs_tables.py"


def test_ratios_in_both_tables():
    # 150 steps/s against torch f32 100 and f64 60: 1.50x and 2.50x; log p 1 s against 2 s and 4 s: 2.00x, 4.00x
    r = results([(150.0, 100.0, 60.0)], [(1.0, 2.0, 4.0)])
    assert "| MADE | 2 | 64 | 64 | 7 | 150.0 | 100.0 | 60.0 | 1.50× | 2.50× |" in cost_tables.train_table(r)
    assert "| MADE | 2 | 64 | 7 | 1.000 | 2.000 | 4.000 | 2.00× | 4.00× |" in cost_tables.log_p_table(r)


def test_a_clean_threshold_is_named_with_the_medians_on_either_side():
    # torch f32 at 1000, 100, 10 steps/s: 1 ms, 10 ms, 100 ms per step; tinygen's ratios 2, 1.2, 0.5
    r = results([(2000.0, 1000.0, 1000.0), (120.0, 100.0, 100.0), (5.0, 10.0, 5.0)])
    text = cost_tables.prose(r, "train")
    assert "up to 10 ms per training step (2 of 3, median ratio 1.60" in text
    assert "torch float32 is faster in every configuration from 100 ms on (1 of 3, median ratio 0.50 against " \
           "float32 and 1.00 against float64" in text
    paragraph = cost_tables.docs_paragraph(r)
    assert "more than about 10 ms in torch float32" in paragraph and "0.50× of float32's speed" in paragraph


def test_the_width_batch_medians_and_where_tinygen_is_ahead():
    # width 64: batch 64 at 1.5x and 0.9x (median 1.2), batch 128 at 0.5x
    r = results([(150.0, 100.0, 100.0), (50.0, 100.0, 100.0)])
    r["train"].append({**r["train"][0], "steps_per_s": {"tinygen": 90.0, "float32": 100.0, "float64": 100.0}})
    assert "| width 64 | 1.20× (0.90–1.50) | 0.50× (0.50–0.50) |" in cost_tables.width_batch_table(r)
    assert "at width 64 with batch 64, and below it at the other 1 of 2 width–batch pairs" in cost_tables.ahead(r)
    r["train"][0]["steps_per_s"]["tinygen"] = 50.0
    assert "below torch float32's at every width and batch" in cost_tables.ahead(r)


def test_a_mixed_zone_and_the_one_sided_cases():
    # 1 ms: 2x; 10 ms: 0.5x; 100 ms: 1.5x; 1 s: 0.5x -> fast below 10 ms, slow above 100 ms, mixed between
    mixed = cost_tables.prose(results([(2000.0, 1000.0, 1000.0), (50.0, 100.0, 100.0), (15.0, 10.0, 10.0),
                                       (0.5, 1.0, 1.0)]), "train")
    assert "below 10 ms" in mixed and "above 100 ms" in mixed and "between 10 ms and 100 ms (2 of 4)" in mixed
    fast = cost_tables.prose(results([(20.0, 10.0, 10.0), (2.0, 1.0, 1.0)]), "train")
    assert "at least as fast as torch float32 in all 2 configurations (ratios 2.00–2.00)" in fast
    slow = cost_tables.prose(results([(5.0, 10.0, 10.0), (0.5, 1.0, 2.0)]), "train")
    assert "Torch float32 is faster in all 2 configurations" in slow and "median 0.50" in slow


def test_without_torch_the_figures_are_dashes_and_no_ratio_is_claimed():
    r = results([(150.0, None, None)], [(1.0, None, None)])
    assert "| 150.0 | — | — | — | — |" in cost_tables.train_table(r)
    assert cost_tables.prose(r, "train").startswith("Torch was not importable")
    assert "no ratios to quote" in cost_tables.docs_paragraph(r)
    assert "cost_curve.png" not in cost_tables.report_markdown(r, None)


points = st.lists(st.tuples(st.floats(1e-4, 10), st.floats(0.05, 20)), min_size=1, max_size=30)


@given(points)
def test_crossover_splits_never_slower_from_always_slower(pairs):
    pts = sorted((w, r, r, None) for w, r in pairs)
    first_slow, last_fast = cost_tables.crossover(pts)
    for w, r, _, _ in pts:
        if first_slow is not None and w < first_slow:
            assert r >= 1  # below the first slow configuration, tinygen is never slower
        if last_fast is not None and w > last_fast:
            assert r < 1  # above the last fast one, it is always slower
    assert (first_slow is None) == all(r >= 1 for _, r in pairs)
    assert (last_fast is None) == all(r < 1 for _, r in pairs)


@given(st.integers(2, 5), st.integers(0, 2 ** 31 - 1))
def test_dequantize_spreads_each_level_over_its_own_interval(levels, seed):
    rng = onp.random.default_rng(seed)
    s = rng.integers(0, levels, size=(50, 3))
    x = bench_cost.dequantize(s, levels, rng)
    # x = 2 (s + u) / V - 1 with u in [0, 1): level s fills [2 s / V - 1, 2 (s + 1) / V - 1), so floor recovers it
    assert onp.all((x >= -1) & (x < 1))
    assert onp.array_equal(onp.floor((x + 1) * levels / 2), s)


@pytest.mark.parametrize("D", bench_cost.DIMS)
def test_each_dimension_has_its_data(D):
    x = bench_cost.dataset(D, 20, rng=0)
    assert x.shape == (20, D) and onp.all(onp.isfinite(x))
    assert onp.array_equal(x, bench_cost.dataset(D, 20, rng=0))  # same seed, same points
    if D > 2:  # the dequantized discrete sets fill [-1, 1)
        assert onp.all((x >= -1) & (x < 1))


# ---------------------------------------------------------------- the arithmetic floor
@given(st.sampled_from(sorted(bench_cost.MODELS)), st.integers(1, 4), st.integers(0, 8), st.integers(1, 9))
def test_matmul_flops_are_the_products_the_reference_path_runs(key, half_d, extra_width, n):
    # even D, as in the curve (RealNVP's halves D / 2 and D - D / 2 are then equal); a width of at least D
    # (MADE's hidden units must carry every degree); small sizes keep it fast
    import autograd

    import tinygen

    D, width = 2 * half_d, 2 * half_d + extra_width
    model = bench_cost.MODELS[key][1](D, width)
    params = model.init(0)
    x = onp.random.default_rng(1).uniform(-1, 1, size=(n, D))
    row = {"model": key, "D": D, "width": width, "batch": n, "n": n}
    extra = {"k": 1, "rng": 0} if key == "vae" else {}
    with tinygen.fast.disabled():
        with bench_profile.Products() as log_p:  # every np.matmul / np.dot, forward and in autograd's VJPs
            model.log_prob(params, x, **extra)
        with bench_profile.Products() as step:
            autograd.grad(lambda p: model.loss(p, x, 0))(params)
    z = bench_cost.z_dim(D)
    assert log_p.flops() == cost_tables.matmul_flops(row, z, "log_p")  # integers: exact
    assert step.flops() == cost_tables.matmul_flops(row, z, "train")


def test_floor_columns_from_a_stored_peak():
    # MADE D = 2, width 64, batch 64: layers 2x64 (reads x), 64x64, 64x4 -> 2 * 64 * (2*128 + 3*4096 + 3*256)
    # = 128 * 13,312 = 1,703,936 FLOPs per step; at 100 steps/s that is 0.170 GFLOP/s, 0.17% of a
    # 100 GFLOP/s peak, and the floor 1.704e-3 GFLOP / 100 GFLOP/s = 0.0170 ms
    r = results([(100.0, 50.0, 50.0)])
    r["peak"] = {"peak": 100.0, "square": {"256": 100.0}, "shapes": {"256 x 64 @ 64 x 64": 40.0},
                 "machine": "a CPU, 2 cores (2 usable); 2026-01-02", "load": 0.5}
    assert "| 2.00× | 2.00× | 1.70 | 0.170 | 0.2% | 0.0170 |" in cost_tables.train_table(r)
    text = cost_tables.floor_prose(r)
    assert "the peak, the best of these, 100.0 GFLOP/s" in text and "measured on" not in text
    r["peak"]["machine"] = "another CPU, 2 cores; 2026-01-02"
    assert "The peak was measured on another CPU, the curve on a CPU" in cost_tables.floor_prose(r)
    del r["peak"]
    assert "--peak" in cost_tables.floor_prose(r) and "of peak" not in cost_tables.train_table(r)


def test_profile_buckets_follow_where_the_time_is_spent():
    from tinygen._validate import check_positive_int

    def work():
        for _ in range(2000):
            check_positive_int(3, "n")  # tinygen/_validate.py: checks
        sum(i * i for i in range(20000))  # plain Python: this test's own lines
    b = bench_profile.profiled_buckets(work)
    assert b["checks"] > 0 and b["python"] > 0 and b["adam"] == 0 and b["blas"] == 0
    assert bench_profile.kind(("~", 0, "<built-in method numpy.einsum>")) == "blas"
    assert bench_profile.kind(("~", 0, "<method 'reduce' of 'numpy.ufunc' objects>")) == "numpy"
    assert bench_profile.kind(("~", 0, "<built-in method builtins.isinstance>")) == "inherit"
