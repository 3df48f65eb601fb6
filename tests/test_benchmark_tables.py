"""The docs' benchmark and defaults tables, REPORT.md's speed summary and the README's speed
paragraph are generated from the results files, never typed.

Fast: no torch, no training; only the rendering in benchmarks/report_tables.py and speed_tables.py,
the splicing into docs/benchmarks.md, docs/defaults.md, REPORT.md and README.md in
benchmarks/docs_tables.py, and bench_headline.py timing a command that does nothing.
"""
import copy
import json
import os
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(ROOT, "benchmarks"))  # after everything else: shadows nothing
import defaults_tables  # noqa: E402
import digits_tables  # noqa: E402
import docs_tables  # noqa: E402
import report_tables  # noqa: E402
import speed_tables  # noqa: E402

RUN = {"command": "python benchmarks/report.py --steps 3", "date": "2026-01-02 03:04 UTC", "machine": "a CPU",
       "seed": 0, "noise": 0.05, "n_train": 10, "n_test": 10, "entropy": 0.3, "blocks": 2, "block": 5,
       "repeats": 1, "k": 4}


def entry(label="Flow", rates=(150.0, 50.0, 100.0, 60.0), seconds=(1.0, 2.0, 4.0), target=1.5, run=RUN):
    """A results.json entry with chosen figures: rates = tinygen, reference, torch f32, torch f64 steps/s;
    seconds = tinygen, f32, f64 for both sampling and log p (None for a figure torch did not give)."""
    t, ref, f32, f64 = rates
    s = dict(zip(("tinygen", "float32", "float64"), seconds))
    return {"label": label, "params": 7, "steps": 3, "lr": 1e-3, "schedule": "cosine", "batch_size": 256,
            "quality": {"nll": 0.5, "se": 0.01, "gap": 0.2, "kl": 0.2, "kl_se": 0.01, "n_test": 10,
                        "gap_target": 0.1},
            "train": {"run": t, "tinygen": t, "reference": ref, "float32": f32, "float64": f64, "target": target},
            "sample_s": dict(s), "log_p_s": dict(s), "peer_check": {"float64": 1e-15, "float32": 1e-6},
            "run": dict(run)}


def _runs(gaps, bridge=1e-3):
    return {str(s): {"seed": s, "gap": g, "se": 0.01, "nll": g + 0.3, "bridge": bridge, "seconds": 1.0}
            for s, g in enumerate(gaps)}


DEFAULTS = {"peers": {"maf": _runs([0.05, 0.09])}, "zero_bias": {"maf": _runs([0.2, 0.3], bridge=0.9)},
            "own": {"maf": _runs([0.03, 0.01]), "spline": _runs([0.015, 0.025]),
                    "vae": _runs([0.30, 0.20]), "vae_iaf": _runs([0.25, 0.21])},
            "peers_recipe": {"steps": 5000, "batch_size": 256, "lr": 1e-3},
            "runs": {r: {"command": "python benchmarks/bench_defaults.py", "date": "2026-01-02 03:04 UTC",
                         "machine": "a CPU", "minutes": 3.0} for r in ("peers/maf", "zero_bias/maf", "own/maf")}}
PEERS = {"runs": {"torch": {"float32": {"maf": {"command": "python benchmarks/peer_training.py",
                                                "date": "2026-01-02", "seeds": {"0": {"gap": 0.06},
                                                                                "1": {"gap": 0.07}}}}}}}


def test_the_defaults_tables_give_each_seed_and_each_verdict():
    text = defaults_tables.section(DEFAULTS, PEERS)
    # peers' recipe: MAF 0.05 and 0.09 against the peer's 0.06 and 0.07: lower on 1 of 2; worst 0.09 > 0.08
    assert "| MAF(2) | 0.050, 0.090 | 0.060, 0.070 | 0.090 (≤ 0.08: not met) | 1 of 2 | 1.0e-03 |" in text
    assert "| MAF(2), hidden biases 0 at init (ablation) | 0.200, 0.300 |" in text and "9.0e-01 (joined)" in text
    # own recipes: the best flow per seed is 0.015 and 0.010; the IAF VAE minus the Gaussian one: -0.05, +0.01
    assert "Best flow on each seed: 0.015, 0.010 nats; within 0.02 of H(p) on every seed: yes." in text
    assert "-0.050, +0.010 nats; no worse on every seed: no." in text
    assert "`python benchmarks/peer_training.py` on 2026-01-02" in text
    assert ("Measured (own/maf, peers/maf, zero_bias/maf) by `python benchmarks/bench_defaults.py` "
            "on 2026-01-02 03:04 UTC") in text
    # without the peers' file the peer column is dashes, and no win is claimed
    alone = defaults_tables.section(DEFAULTS, {})
    assert "| MAF(2) | 0.050, 0.090 | —, — | 0.090 (≤ 0.08: not met) | — |" in alone


def test_docs_defaults_tables_are_the_ones_the_results_render():
    with open(docs_tables.DEFAULTS_PAGE) as f:
        page = f.read()
    assert docs_tables.marked(page, docs_tables.DEFAULTS_BEGIN, docs_tables.DEFAULTS_END) == \
        docs_tables.render_defaults().strip("\n"), "docs/defaults.md's tables are stale: run docs_tables.py"


def _digits_entry(label, kind, values, params=100, steps=5):
    return {"label": label, "kind": kind, "params": params,
            "seeds": {str(s): {"bpd": v, "se": 0.01, "seconds": 2.0, "steps": steps, "command": "python b.py",
                               "date": f"2026-01-0{s + 1} 00:00 UTC"} for s, v in enumerate(values)}}


def test_the_digits_table_gives_each_seed_and_the_glow_verdict():
    results = {"models": {"glow": _digits_entry("Glow", "bound", [2.6, 2.7, 2.8]),
                          "made": _digits_entry("MADE", "exact", [2.0]),
                          "realnvp": _digits_entry("RealNVP", "bound", [3.0, 3.1, 2.9])}}
    text = digits_tables.table(results)
    # the table follows the fixed order (MADE first), the seeds' mean +- the SE over seeds: sqrt(0.01 / 3)
    assert text.index("| MADE |") < text.index("| RealNVP |") < text.index("| Glow |")
    assert "| Glow | bound | 100 | 5 | 2.700 ± 0.058 | 2.600 ± 0.010, 2.700 ± 0.010, 2.800 ± 0.010 | 2 |" in text
    assert "| MADE | exact | 100 | 5 | 2.000 (one seed) |" in text
    # Glow 2.7 against RealNVP 3.0: lower by 0.300, SE sqrt(2 * 0.01 / 3) = 0.082
    assert "2.700 against 3.000 bits/dim, Glow lower (better) by 0.300 ± 0.082" in text
    assert "between 2026-01-01 00:00 UTC and 2026-01-03 00:00 UTC" in text
    results["models"]["glow"] = _digits_entry("Glow", "bound", [3.2, 3.3, 3.4])
    assert "Glow higher (worse) by 0.300" in digits_tables.table(results)


@pytest.mark.parametrize("page", [docs_tables.BENCHMARKS_PAGE, docs_tables.DIGITS_REPORT])
def test_docs_digits_table_is_the_one_results_digits_json_renders(page):
    with open(page) as f:
        text = f.read()
    assert docs_tables.marked(text, docs_tables.DIGITS_BEGIN, docs_tables.DIGITS_END) == \
        docs_tables.render_digits().strip("\n"), f"{page}'s digits table is stale: run python benchmarks/docs_tables.py"


def test_docs_benchmark_table_is_the_one_results_json_renders():
    with open(docs_tables.BENCHMARKS_PAGE) as f:
        page = f.read()
    assert docs_tables.marked(page) == docs_tables.render().strip("\n"), \
        "docs/benchmarks.md's benchmark table is stale: run python benchmarks/docs_tables.py"


def test_the_readme_types_no_generated_part():
    # the tables live in docs/ only; the README links to them (its one generated part is the speed
    # paragraph, checked below)
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    markers = (docs_tables.BEGIN, docs_tables.COST_BEGIN, docs_tables.DEFAULTS_BEGIN)
    assert not [m for m in markers if m in readme]


def test_the_table_names_the_command_and_date_of_every_run():
    results = report_tables.load(docs_tables.RESULTS)
    table = docs_tables.render()
    for e in results["families"].values():
        assert f"`{e['run']['command']}` on {e['run']['date']}" in table


def test_ratios_against_both_dtypes_and_the_target():
    # tinygen 150 steps/s against torch f32 100 and f64 60: 1.50x (the target 1.5x, met) and 2.50x;
    # sampling 1 s against 2 s and 4 s: 2.00x and 4.00x as fast
    table = report_tables.docs_table({"families": {"a": entry()}})
    row = table.splitlines()[2]
    assert "| 150 (50) | 100 / 60 | 1.50× (≥ 1.5×: met) | 2.50× | 2.00× / 4.00× | 2.00× / 4.00× |" in row
    slow = report_tables.docs_table({"families": {"a": entry(rates=(120.0, 50.0, 100.0, 60.0))}})
    assert "1.20× (≥ 1.5×: not met (by 0.30×))" in slow
    report = report_tables.report_markdown({"families": {"a": entry()}})
    assert "| Flow | 150.0 | 150.0 | 50.0 | 3.00× | 100.0 | 60.0 | 1.50× | ≥ 1.5× | met | 2.50× |" in report


@given(st.floats(0.01, 100), st.floats(0.01, 100), st.floats(0.1, 3))
def test_verdict_is_met_exactly_when_the_ratio_reaches_the_target(ours, theirs, target):
    r = report_tables.speedup(ours, theirs)
    assert (report_tables.verdict(r, target) == "met") == (ours / theirs >= target)
    # seconds: the speed ratio is the peer's time over ours
    assert report_tables.speedup(ours, theirs, seconds=True) == theirs / ours


def test_missing_torch_figures_render_as_dashes():
    results = {"families": {"a": entry(rates=(150.0, 50.0, None, None), seconds=(1.0, None, None))}}
    results["families"]["a"]["peer_check"] = {"float64": None, "float32": None}
    table = report_tables.docs_table(results)
    assert "| — / — | — (≥ 1.5×: —) | — | — / — | — / — |" in table
    assert "| — | — |" in report_tables.report_markdown(results)


def test_each_run_is_named_with_its_families():
    other = dict(RUN, command="python benchmarks/report.py --families b", date="2026-01-03 00:00 UTC")
    results = {"families": {"a": entry("A"), "b": entry("B", run=other)}}
    text = report_tables.sources(results)
    assert f"`{RUN['command']}` on {RUN['date']} (A)." in text
    assert f"`{other['command']}` on {other['date']} (B)." in text


no_markers = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).filter(
    lambda s: "<!--" not in s)


@given(no_markers, no_markers, no_markers, no_markers)
def test_splice_replaces_only_the_marked_part(before, old, after, table):
    doc = before + docs_tables.BEGIN + old + docs_tables.END + after
    new = docs_tables.splice(doc, table)
    assert docs_tables.marked(new) == table.strip("\n")
    assert new.startswith(before + docs_tables.BEGIN) and new.endswith(docs_tables.END + after)
    assert docs_tables.splice(new, table) == new


@pytest.mark.parametrize("doc", ["no markers", docs_tables.END + " x " + docs_tables.BEGIN,
                                 docs_tables.BEGIN * 2 + docs_tables.END])
def test_markers_must_appear_once_and_in_order(doc):
    with pytest.raises(ValueError, match=r"^text: "):
        docs_tables.marked(doc)


def test_load_rejects_a_file_without_families(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match=r"^path: "):
        report_tables.load(str(path))


def test_check_reports_stale_pages(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"families": {"a": entry()}}))
    benchmarks_page = tmp_path / "benchmarks.md"
    benchmarks_page.write_text(f"# x\n{docs_tables.BEGIN}\nold\n{docs_tables.END}\nmiddle\n"
                               f"{docs_tables.COST_BEGIN}\nold\n{docs_tables.COST_END}\nrest\n"
                               f"{docs_tables.DIGITS_BEGIN}\nold\n{docs_tables.DIGITS_END}\n")
    digits_report = tmp_path / "REPORT_digits.md"
    digits_report.write_text(f"# d\n{docs_tables.DIGITS_BEGIN}\nold\n{docs_tables.DIGITS_END}\n")
    digits = tmp_path / "results_digits.json"
    digits.write_text(json.dumps({"models": {"glow": _digits_entry("Glow", "bound", [2.6, 2.7])}}))
    defaults_page = tmp_path / "defaults.md"
    defaults_page.write_text(f"# y\n{docs_tables.DEFAULTS_BEGIN}\nold\n{docs_tables.DEFAULTS_END}\nend\n")
    defaults = tmp_path / "results_defaults.json"
    defaults.write_text(json.dumps(DEFAULTS))
    report = tmp_path / "REPORT.md"
    report.write_text(f"# r\n{speed_tables.SUMMARY_BEGIN}\nold\n{speed_tables.SUMMARY_END}\nafter\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n{speed_tables.README_BEGIN}\nold\n{speed_tables.README_END}\n")
    headline = tmp_path / "results_headline.json"
    headline.write_text(json.dumps(HEADLINE))
    argv = ["--results", str(results), "--benchmarks-page", str(benchmarks_page), "--defaults-page", str(defaults_page),
            "--cost-results", docs_tables.COST_RESULTS, "--defaults-results", str(defaults),
            "--peers-results", str(tmp_path / "absent.json"), "--digits-results", str(digits),
            "--digits-report", str(digits_report), "--report", str(report), "--readme", str(readme),
            "--headline-results", str(headline)]
    assert docs_tables.main(argv + ["--check"]) == 1
    assert docs_tables.main(argv) == 0
    assert docs_tables.main(argv + ["--check"]) == 0
    page = benchmarks_page.read_text()
    assert "\nmiddle\n" in page and f"{docs_tables.COST_END}\nrest\n" in page
    assert "| Glow | bound |" in page and "| Glow | bound |" in digits_report.read_text()
    page = defaults_page.read_text()
    assert page.startswith("# y\n") and page.endswith(f"{docs_tables.DEFAULTS_END}\nend\n")
    assert report.read_text().endswith(f"{speed_tables.SUMMARY_END}\nafter\n") and "| 45 s |" in report.read_text()
    assert "The two-moons tour took 45 s" in " ".join(readme.read_text().split())  # the paragraph is wrapped
    changed = copy.deepcopy(json.loads(results.read_text()))
    changed["families"]["a"]["train"]["tinygen"] = 300.0
    results.write_text(json.dumps(changed))
    assert docs_tables.main(argv + ["--check"]) == 1
    docs_tables.main(argv)
    headline.write_text(json.dumps(dict(HEADLINE, seconds=142.0)))  # a slower demo: both speed parts are stale
    assert docs_tables.main(argv + ["--check"]) == 1
    docs_tables.main(argv)
    assert "not met (by 82 s)" in report.read_text() and "not met (by 82 s)" in " ".join(readme.read_text().split())


# ---------------------------------------------------------------- the speed summary (speed_tables.py)
LOAD = {"before": [0.5, 0.4, 0.3], "after": [1.5, 0.6, 0.4]}
HEADLINE = {"command": "python benchmarks/bench_headline.py", "demo": "python demos/00_two_moons_tour.py --out TMPDIR",
            "seconds": 45.0, "date": "2026-01-02 03:04 UTC", "machine": "A CPU, 2 cores (2 usable), OMP_NUM_THREADS=1",
            "load": LOAD, "commit": "0123456789abcdef", "uncommitted": False}
EVAL = {"command": "python benchmarks/bench_eval.py", "machine": "A CPU, 2 cores (2 usable); 2026-01-01", "n": 100,
        "vae_k": 5, "load": [2.0, 3.0],
        # log p: tinygen 1 s against torch f32 2 s (2.00x, met); sampling 4 s against 2 s (0.50x, not met)
        "seconds": {"made": {"log_p": {"tinygen": 1.0, "torch_f32": 2.0, "torch_f64": 3.0},
                             "sample": {"tinygen": 4.0, "torch_f32": 2.0, "torch_f64": None}}}}


def _family(label, rates, against, target):
    return {"label": label, "steps_per_s": rates, "target": target, "target_against": against, "load": LOAD}


TRAIN = {"command": "python benchmarks/bench_train.py", "machine": "A CPU, 2 cores (2 usable)",
         "date": "2026-01-03 00:00 UTC", "families": {
             # 150 steps/s against the lean peer's 100: 1.50x, the target 1.5x exactly, met; zuko 75: 2.00x
             "realnvp": _family("RealNVP-8", {"tinygen": 150.0, "lean_f32": 100.0, "lean_f64": 50.0,
                                              "library_f32": 75.0}, "lean_f32", 1.5),
             # 30 against torch f32 40: 0.75x, short of 1.0x by 0.25x
             "RNN": _family("RNN", {"tinygen": 30.0, "torch_f32": 40.0, "torch_f64": 20.0}, "torch_f32", 1.0)}}


def _speed(**files):
    """The five results, the made-up ones above unless a key is given (None: the file is missing)."""
    return {"eval": EVAL, "train": TRAIN, "cost": None, "headline": HEADLINE, "profile": None} | files


def test_the_speed_summary_gives_each_target_its_figure_and_verdict_on_both_sides():
    text = speed_tables.section(_speed())
    assert "| MADE: log p of 100 points | 2.00× torch f32 | 3.00× torch f64 | ≥ 1× | met (by 1.00×) |" in text
    assert "| MADE: sampling of 100 points | 0.50× torch f32 | — torch f64 | ≥ 1× | not met (by 0.50×) |" in text
    assert "2026-01-01 · A CPU, 2 cores (2 usable) · load 2.0 → 3.0 |" in text
    assert ("| RealNVP-8: training steps/s | 1.50× lean torch f32 | 3.00× lean torch f64; 2.00× zuko f32 | ≥ 1.5× | "
            "met (by 0.00×) | 2026-01-03 00:00 UTC · A CPU, 2 cores (2 usable) · load 0.5 → 1.5 |") in text
    assert "| RNN: training steps/s | 0.75× torch f32 | 1.50× torch f64 | ≥ 1× | not met (by 0.25×) |" in text
    assert ("| 45 s | `python demos/00_two_moons_tour.py --out TMPDIR` at commit 0123456789 | ≤ 60 s | "
            "met (by 15 s) |") in text
    assert "3 of the 5 targets measured are met." in text  # log p, RealNVP-8, the demo; the cost curve missing
    slow = speed_tables.section(_speed(headline=dict(HEADLINE, seconds=142.0)))
    assert "| 142 s |" in slow and "| ≤ 60 s | not met (by 82 s) |" in slow and "2 of the 5" in slow
    paragraph = speed_tables.readme_paragraph(_speed(), width=10_000)
    assert "at 0.75–1.50× the speed of the PyTorch a user would write (targets: 1 of 2 met)" in paragraph
    assert "10⁵ points at 0.50–2.00× torch float32 (target ≥ 1×: 1 of 2 met)" in paragraph
    assert "at a speed not measured yet against torch float64 (target ≥ 1× at every point: not measured)" in paragraph
    assert "took 45 s against a target of 60 s: met (by 15 s), the load average 0.5 → 1.5." in paragraph


def test_the_speed_summary_says_which_results_files_are_missing():
    nothing = dict.fromkeys(speed_tables.FILES)
    text = speed_tables.section(nothing)
    for name in speed_tables.FILES.values():
        assert f"`benchmarks/{name}`: missing." in text
    assert "not measured: benchmarks/results_headline.json is missing (run benchmarks/bench_headline.py)" in text
    assert "0 of the 0 targets measured are met." in text and "No profile: " in text
    assert "has not been timed yet" in speed_tables.readme_paragraph(nothing, width=10_000)
    absent = {k: "/nonexistent/" + name for k, name in speed_tables.FILES.items()}
    assert speed_tables.load_all(absent) == nothing


@given(st.floats(0.01, 1000), st.floats(0.01, 1000), st.booleans())
def test_speed_verdict_is_met_exactly_when_the_goal_is_reached(value, goal, at_most):
    met, words = speed_tables.verdict(value, goal, at_most=at_most)
    assert met == (value <= goal if at_most else value >= goal)
    assert words.startswith("met (by " if met else "not met (by ")


def test_speed_summary_and_readme_paragraph_are_the_ones_the_results_render():
    summary, paragraph = docs_tables.render_speed()
    with open(docs_tables.REPORT) as f:
        report = f.read()
    with open(docs_tables.README) as f:
        readme = f.read()
    assert docs_tables.marked(report, speed_tables.SUMMARY_BEGIN, speed_tables.SUMMARY_END) == summary, \
        "benchmarks/REPORT.md's speed summary is stale: run python benchmarks/docs_tables.py"
    assert docs_tables.marked(readme, speed_tables.README_BEGIN, speed_tables.README_END) == paragraph, \
        "README.md's speed paragraph is stale: run python benchmarks/docs_tables.py"


def test_report_md_points_to_the_dedicated_speed_reports():
    results = {"families": {"a": entry()}}
    text = report_tables.report_markdown(results, "SUMMARY", speed_tables.POINTERS)
    assert text.index("SUMMARY") < text.index("## Quality")
    assert "`benchmarks/REPORT_train.md`" in text and "`benchmarks/REPORT_eval.md`" in text
    assert "| Flow | 150.0 | 150.0 |" not in text  # the superseded table is gone, the pointer in its place


def test_bench_headline_times_a_command_and_records_its_run(tmp_path):
    import bench_headline

    out = tmp_path / "results_headline.json"
    assert bench_headline.main(["--command", f"{sys.executable} -c pass", "--out", str(out)]) == 0
    h = json.loads(out.read_text())
    assert h["demo"] == "python -c pass" and h["seconds"] > 0 and len(h["load"]["before"]) == 3
    assert h["commit"] and "cores" in h["machine"] and h["date"].endswith("UTC")
    assert speed_tables.headline_row(h)["met"] is True  # `python -c pass` takes far less than 60 s
    failing = tmp_path / "failing.json"
    assert bench_headline.main(["--command", f"{sys.executable} -c 'raise SystemExit(3)'", "--out", str(failing)]) == 3
    assert not failing.exists()


def test_the_diffusion_noise_report_is_what_its_json_renders():
    import diffusion_by_noise

    with open(diffusion_by_noise.JSON) as f:
        result = json.load(f)
    with open(diffusion_by_noise.REPORT) as f:
        assert f.read() == diffusion_by_noise.render(result), \
            "benchmarks/REPORT_diffusion_noise.md is stale: run python benchmarks/diffusion_by_noise.py --render"
    # one column per noise level, the first (eps* everywhere) the check that the ODE itself is exact:
    # the solver's error at rtol = atol = 1e-5 plus, with the schedule ending at log-SNR -5, the
    # prior's own mismatch KL(q_T || N(0, I)) ~ 1e-3 nats, averaged over the test points
    for row in result["rows"].values():
        assert len(row["lost"]) == len(result["levels"]) and abs(row["lost"][0]) < 0.01


def test_a_whole_recipe_run_record_is_dropped_once_each_family_has_its_own():
    import bench_defaults

    results = {"own": {"maf": {}, "vae": {}}, "peers": {"maf": {}},
               "runs": {"own": {}, "peers": {}, "own/maf": {}}}
    bench_defaults.drop_superseded(results)
    assert set(results["runs"]) == {"own", "peers", "own/maf"}  # the VAE's figures are still the old run's
    results["runs"]["own/vae"] = {}
    bench_defaults.drop_superseded(results)
    assert set(results["runs"]) == {"peers", "own/maf", "own/vae"}
