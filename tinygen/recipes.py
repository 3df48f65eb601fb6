"""One training recipe per model family, and the values its demos are expected to print.

A recipe (``tinygen.recipe.Recipe``) is everything that decides a result besides the rng: the architecture,
the number of Adam steps, the learning rate and its schedule, the batch size.
The tour (demos/00), the family demos (02, 04, 07, 08) and the README's first
model all train from ``RECIPES``, on the same two-moons split (``two_moons_split``),
so the numbers they print can be compared: same recipe, same rng, same result.
The benchmarks are meant to read the same object.

Every family but MADE trains for 5000 steps, the length the PyTorch peers are
compared at (benchmarks/bench_defaults.py), with a cosine-decayed learning rate,
eta_t = eta (1 + cos(pi t / T)) / 2, fit's default; the flows' learning rates are
2-3 times the peers' 1e-3, which the decay makes safe at the end of a run. A VAE on
two moons first sits on a plateau near 1.9 nats (the decoder's scale s still
several times the moons' noise, the latent barely used) for 500 to 3000 steps,
depending on the seed; 5000 steps let every seed leave it well before the rate
decays (after 2000 steps at a constant rate, the earlier recipe, the gaps were
still 0.27 to 0.37 nats with the Gaussian posterior and 0.28 to 0.63 with the IAF).

The continuous-time families (flow matching, the CNF by maximum likelihood, diffusion) are
scored like the others, their log p from an ODE with the exact trace; their gaps seed by
seed, and what each recipe costs, are in benchmarks/REPORT_continuous.md
(benchmarks/bench_continuous.py). The CNF's recipe has two stages (``Recipe.warm_start``).

``expected_values()`` holds what the demos printed at their defaults over a few
seeds (measured by ``benchmarks/expected_values.py``, stored in
``tinygen/expected.json``); ``report`` prints a value beside it.
"""
import dataclasses
import json
import os

import numpy as onp

from . import data, evaluate
from ._deprecated import refuse_unknown, take_renamed
from ._validate import as_batch, as_rng, check_finite_number, check_positive_int, check_size
from .arm import MADE
from .diffusion import Diffusion
from .ebm import EBM
from .flows import MAF, ContinuousFlow, NeuralSplineFlow, RealNVP
from .gan import GAN
from .nn import count_params
from .recipe import Recipe
from .recipe_kinds import EBMRecipe, GANRecipe
from .vae import VAE

__all__ = ["EXPECTED_PATH", "IWAE_K", "LECTURE_RECIPES", "NOISE", "N_TEST", "N_TRAIN", "QUICK_ENV", "RECIPES",
           "RECORD_ENV", "Recipe", "Recipes", "UnknownRecipeError", "expected_values", "log_snr_betas", "quick",
           "report", "score", "summarize", "two_moons_split"]

NOISE = 0.05  # two moons' noise in every recipe run
N_TRAIN, N_TEST = 20000, 5000
IWAE_K = 200  # importance samples for a VAE's test log p(x) (the IWAE bound, tightening as K grows)
RECORD_ENV = "TINYGEN_RECORD"  # a file path: report() appends each value it prints (used to measure them)
QUICK_ENV = "TINYGEN_QUICK"  # "1": demos run at the tiny sizes they declare (tests, a first look)
EXPECTED_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected.json")


class Recipes(dict):
    """The recipe table: a dict whose unknown key is a KeyError naming it and listing the known ones."""

    def __missing__(self, key):
        raise UnknownRecipeError(f"recipe: expected one of {sorted(self)}, got {key!r}")


class UnknownRecipeError(KeyError):
    """KeyError with a readable message (a bare KeyError prints only the quoted key)."""

    def __str__(self):
        return str(self.args[0])


RECIPES = Recipes({
    "made": Recipe("MADE (Gaussian)", lambda: MADE(2, hidden=(64, 64)), 2000, 3e-3),
    "maf": Recipe("MAF-5", lambda: MAF(2, n_layers=5, hidden=(64, 64)), 5000, 3e-3),
    "realnvp": Recipe("RealNVP-8", lambda: RealNVP(2, n_layers=8, hidden=(64, 64)), 5000, 2e-3),
    "spline": Recipe("Spline flow-4", lambda: NeuralSplineFlow(2, n_layers=4, hidden=(64, 64), bins=8), 5000, 3e-3),
    "vae": Recipe("VAE (Gaussian q)", lambda: VAE(2, 2, hidden=(64, 64)), 5000, 5e-3),
    # the same lr, schedule and start as the Gaussian posterior (the IAF stack starts as the identity, see
    # VAE), batches of 512: 0.041 nats on average over seeds 0-4 against 0.055 with 256 (and 0.08 at 3e-3),
    # measured with hidden biases started at 0; hidden (128, 128) stayed on the plateau on some seeds.
    # Seed by seed against the Gaussian posterior: benchmarks/REPORT_vae_recipes.md (paired differences)
    "vae_iaf": Recipe("VAE (IAF-2 q)", lambda: VAE(2, 2, hidden=(64, 64), posterior="iaf", n_layers=2),
                      5000, 5e-3, batch_size=512),
})
# the lecture's families: what the tour trains by default, and what the defaults benchmark and the
# PyTorch peers compare (the families added below are measured in their own benchmarks)
LECTURE_RECIPES = tuple(RECIPES)

# ---- the continuous-time families (issue 21); measured seed by seed in benchmarks/REPORT_continuous.md
# Flow matching: no ODE while training, one network pass per step. The field reads Fourier features
# of x (3 doubling frequencies, periods 2, 1 and 1/2) and of t (8): on seed 0 (first 2000 test points,
# 5000 steps) the gap fell from 0.39 nats with [x, t] alone to 0.35 with the time features, 0.087
# with the x features and 0.034 with both. Not the solver's: on that trained field dopri5 at the
# default 1e-6 tolerances gives a test NLL within 3e-7 nats of a 1e-9 solve (each point within
# 3e-4). The features cost next to nothing: 0.034 s a step against 0.033 (same process, loaded core).
# More steps: seed 4, the worst, went from 0.091 nats (5000 steps) to 0.063 (10000) and 0.045
# (20000); seeds 0-4 at 20000 are in REPORT_continuous.md.
FLOW_MATCHING = Recipe("Flow matching", lambda: ContinuousFlow(2, hidden=(128, 128), objective="flow_matching",
                                                               x_features=3, time_features=8),
                       20000, 3e-3, batch_size=1024)
RECIPES["flow_matching"] = FLOW_MATCHING
# The CNF by maximum likelihood: every step backpropagates through an RK4 solve with the exact trace
# (about 60 times the cost of a flow-matching step), so it starts from a flow-matching run (the same
# network, so the same params) and fine-tunes the likelihood itself for a few hundred steps.
# The training solve must be accurate enough that the model cannot profit from its error: from the
# Fourier-feature field's 0.034 nats (seed 0, first 2000 test points), 200 steps with 4 RK4 steps
# ended at 0.76 (lr 3e-3) and 0.051 (lr 3e-4) under the exact (dopri5) log p, and with 8 RK4 steps
# at lr 1e-3 at 0.027. Its start is 5000 flow-matching steps, not the recipe's 20000: from 10000,
# the same 400 likelihood steps ended seed 0 at 0.084 nats (0.046 from 5000), a sharper field whose
# 8-step RK4 solve the likelihood can profit from. Likelihood steps on seeds 0-4 (whole test set):
# 200 gave 0.050, 0.037, 0.047, 0.050, 0.063 nats, 400 gave 0.046, 0.032, 0.037, 0.041, 0.051;
# 600 give the figures in REPORT_continuous.md.
FLOW_MATCHING_STAGE = dataclasses.replace(FLOW_MATCHING, steps=5000)
RECIPES["cnf"] = Recipe("CNF (likelihood)", lambda: ContinuousFlow(2, hidden=(128, 128), objective="likelihood",
                                                                   x_features=3, time_features=8, train_steps=8),
                        600, 1e-3, batch_size=128, warm_start=FLOW_MATCHING_STAGE)


def log_snr_betas(T, log_snr_first=9.2, log_snr_last=-9.9):
    """T betas whose log signal-to-noise ratio lambda_t = log(alpha_bar_t / (1 - alpha_bar_t)) falls
    linearly from ``log_snr_first`` (sigma_1 = 0.01) to ``log_snr_last`` (alpha_bar_T = 5e-5):

        alpha_bar_t = sigmoid(lambda_t),   beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}   (alpha_bar_0 = 1)

    Why not the linear schedule: the moons are 0.05 wide, and the density's detail lives at noise
    levels sigma_t below that; the linear schedule (T = 100) has only its first step there, this
    one its first 17. On seed 0 it lowered the ODE gap after 5000 steps from 1.59 nats (linear,
    lr 1e-3) to 1.28 (lr 3e-3).
    """
    lam = onp.linspace(log_snr_first, log_snr_last, check_positive_int(T, "T"))
    alpha_bar = 1.0 / (1.0 + onp.exp(-lam))
    return 1.0 - alpha_bar / onp.concatenate([[1.0], alpha_bar[:-1]])


# The probability-flow ODE's density needs eps_theta right at every noise level. Where it is wrong
# is measured by benchmarks/diffusion_by_noise.py (REPORT_diffusion_noise.md): the ODE with the
# exact eps* of noised two moons above a noise level and the trained eps_theta below. The first
# recipe (predicting eps with a plain MLP, log-SNR down to -9.9, 5000 steps of batch 256) ended at
# 1.25-1.36 nats on seeds 0-4, its error at sigma_t ~ 0.05-0.5, where the moons are being blurred
# (the report's first row). On seed 0 (first 2000 test points): Fourier features of x_t
# (x_features = 3) with batch 1024 took it from 1.28 to 0.64 nats, and predicting v to 0.15 (near
# the noise end eps* is nearly x_t, and the ODE divides an eps-network's error there by
# sqrt(alpha_bar_t); see Diffusion's ``prediction``). Ending the schedule at log-SNR -5 (alpha_bar_T
# = 0.0067: KL(q_T || N(0, I)) = 0.0011 nats) gives the noise levels where error was left more of the
# T steps, and 10000 steps fit them. Seeds 0-4, whole test set: 0.068, 0.052, 0.053, 0.065, 0.061
# nats (the 0.08 target met on each), the bound's own gap 0.42-0.47. Training: 640-800 s a seed on a
# shared machine, against 70-590 s before.
RECIPES["diffusion"] = Recipe("Diffusion (DDPM)", lambda: Diffusion(2, hidden=(128, 128), n_steps=100,
                                                                    schedule=log_snr_betas(100, log_snr_last=-5.0),
                                                                    x_features=3, prediction="v"),
                              10000, 3e-3, batch_size=1024)


def two_moons_split(rng=0, n_train=N_TRAIN, n_test=N_TEST, labels=False, **renamed):
    """(x_train, x_test, H): two moons (noise NOISE) from int seeds ``rng`` and ``rng + 1``, and the
    exact entropy H(p) in nats, the lowest test NLL any model can reach.

    labels=True: ((x_train, k_train), (x_test, k_test), H), k the moon of each point (the same points).
    """
    rng = take_renamed(renamed, "seed", "rng", rng, 0, "two_moons_split")
    refuse_unknown(renamed, "two_moons_split")
    if isinstance(rng, onp.random.Generator):  # the test set's seed is rng + 1: an int is needed
        raise TypeError("rng: expected an int seed (the test set is drawn from rng + 1), got a Generator")
    as_rng(rng)
    for n, name in ((n_train, "n_train"), (n_test, "n_test")):
        check_size(2 * check_positive_int(n, name), name, n, f"{name} points of two moons (n x 2)")
    train = data.two_moons(n_train, noise=NOISE, rng=rng, labels=labels)
    test = data.two_moons(n_test, noise=NOISE, rng=rng + 1, labels=labels)
    return train, test, data.two_moons_entropy(NOISE)


def score(model, params, x_test, entropy, rng=0, k=IWAE_K, **renamed):
    """Test NLL, its standard error and the gap NLL - H, which estimates KL(p || p_theta) >= 0.

    A VAE's log p(x) is the importance-sampled bound with k samples drawn from ``rng``.
    """
    rng = take_renamed(renamed, "seed", "rng", rng, 0, "score")
    refuse_unknown(renamed, "score")
    k = check_positive_int(k, "k")
    as_batch(x_test, "x_test")
    check_finite_number(entropy, "entropy")
    kwargs = {"k": k} if isinstance(model, VAE) else {}
    nll, se = evaluate.test_nll(model, params, x_test, rng=rng, **kwargs)
    return {"params": count_params(params), "nll": nll, "se": se, "gap": evaluate.gap_to_entropy(nll, entropy)}


# ----------------------------------------------------------------- expected values

def expected_values(path=None):
    """{key: {"mean", "sd", "values"}} measured at the demos' defaults over seeds 0, 1, ...
    (from EXPECTED_PATH unless ``path`` is given; {} while EXPECTED_PATH holds no measurement yet).

    A ``path`` that is given must be such a file: a missing one is a FileNotFoundError naming it.
    """
    if path is None:
        if not os.path.isfile(EXPECTED_PATH):
            return {}
        path = EXPECTED_PATH
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file name (str or os.PathLike), got {type(path).__name__}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: expected a JSON file of expected values, got {os.fspath(path)!r}, "
                                + ("a directory" if os.path.isdir(path) else "which does not exist"))
    try:
        with open(path) as f:
            values = json.load(f)["values"]
    except (ValueError, KeyError, TypeError) as err:  # not JSON, or no "values" entry
        raise ValueError(f"path: expected a JSON object with a \"values\" entry, got {os.fspath(path)!r} "
                         f"({type(err).__name__}: {err})") from err
    if not isinstance(values, dict):
        raise ValueError(f"path: expected \"values\" to be a JSON object, got {type(values).__name__}")
    return values


def quick():
    """True when the environment asks for tiny demo runs (``TINYGEN_QUICK=1``)."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def report(key, value, fmt=".3f", unit="nats"):
    """Print ``key = value`` beside the value expected at the demo's defaults (mean ± sd over seeds).

    A quick run (``TINYGEN_QUICK=1``) trains a few steps at tiny sizes, where the defaults'
    expectation says nothing, so none is printed beside its value.

    With env TINYGEN_RECORD set to a file path, the value is also appended to that
    file (one JSON line per value): that is how benchmarks/expected_values.py measures them.
    """
    if not isinstance(key, str):
        raise TypeError(f"key: expected a string such as '00/made/gap', got {type(key).__name__}")
    value = check_finite_number(value, "value")
    try:
        format(value, fmt)
    except (ValueError, TypeError) as err:
        raise ValueError(f"fmt: expected a format spec for a float such as '.3f', got {fmt!r}") from err
    ref = expected_values().get(key)
    if quick():
        hint = "a quick run at tiny sizes: no expected value; they hold at the defaults"
    elif ref is None:
        hint = "no expected value recorded yet"
    else:
        hint = f"expected at the defaults {ref['mean']:{fmt}} ± {ref['sd']:{fmt}} over {len(ref['values'])} seeds"
    print(f"{key} = {value:{fmt}} {unit}   ({hint})")
    record = os.environ.get(RECORD_ENV)
    if record:
        with open(record, "a") as f:
            f.write(json.dumps({"key": key, "value": value}) + "\n")
    return value


def summarize(values_by_key):
    """{key: [v_seed0, v_seed1, ...]} -> {key: {"mean", "sd", "values"}}; sd is the sample standard
    deviation over seeds (ddof = 1), the spread a student's run at another seed should fall in."""
    if not isinstance(values_by_key, dict):
        raise TypeError(f"values_by_key: expected a dict {{key: [values]}}, got {type(values_by_key).__name__}")
    out = {}
    for key, values in values_by_key.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"values_by_key: expected a non-empty list of numbers for {key!r}, got {values!r}")
        v = onp.asarray([check_finite_number(a, f"values_by_key[{key!r}]") for a in values], dtype=float)
        out[key] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                    "values": [float(a) for a in v]}
    return out



# The CD recipe ends far from the 0.10-nat target: with softplus 1.58-1.60 nats above H(p) on seeds 0-4;
# its short-run Langevin negatives are not draws from p_theta (the sampler's own deficit was about 30
# nats), so its gradient is not the likelihood's. ELU (the exact-gradient recipe's finding, below) took
# the gaps on seeds 0-4 to 0.38-0.56 nats, still above the target; seed by seed in
# benchmarks/REPORT_ebm_gan.md.
RECIPES["ebm"] = EBMRecipe("EBM (DSM, then persistent CD)",
                           lambda: EBM(2, hidden=(64, 64), activation="elu", steps=60, step_size=5e-3),
                           1000, 1e-3, pretrain=1500)
# Maximum likelihood with the exact gradient. What mattered, on seed 0 (gap after the run): the energy
# net's scale at init. With softplus (Glorot init, first-layer weights ~0.2, so features ~5 units wide
# against moons 0.05 wide) 1000 steps at lr 1e-2 reached 1.13 nats, at 3e-2 0.87; with ELU (He init,
# weights ~1) 0.34 at 1e-2 and 0.17 at 3e-2, and 3000 steps at 3e-2 0.045. The quadrature was not the
# limit: the 0.5-wide rule's log Z stayed within 0.004 of the fine one along the run; a rule moved at
# random every step (``shifted``) leaves the model no fixed gaps between nodes to hide mass in (0.001,
# and 0.040 nats). On seeds 0-4 this recipe meets the target: gaps 0.035-0.052 nats (SE 0.010 each),
# seed by seed in benchmarks/REPORT_ebm_gan.md.
RECIPES["ebm_quadrature"] = EBMRecipe("EBM (exact gradient by quadrature)",
                                      lambda: EBM(2, hidden=(64, 64), activation="elu"),
                                      3000, 3e-2, gradient="quadrature", panel_width=0.5, shifted=True)
# constant rates, the generator's 5 times the discriminator's: on eight Gaussians (seed 0, 2000 steps)
# coverage 0.94, against 0.75 with both at 1e-3 cosine-decayed (a quarter of the draws between modes).
# Two discriminator updates per generator update: with one, seed 2 dropped a mode (7 of 8). On seed 2
# (modes reached, smallest share of the draws on a mode, where 0.125 is a full one): d_steps 2 gave 8 of
# 8, 0.021; 4000 steps 8, 0.016; lr_d 2e-3 8, 0.013; batches of 512 7. A likely reason: a discriminator
# that keeps up with the generator still rates the emptied mode as real, which draws the generator back.
# On seeds 0-4 (benchmarks/REPORT_ebm_gan.md): all eight modes on every seed, coverage 0.84-0.95 (it was
# 0.67-0.94, seed 2 on 7 modes, with one update), and both moons on every seed, coverage 0.96-0.99.
RECIPES["gan"] = GANRecipe("GAN (non-saturating)", lambda: GAN(2, latent_dim=2, hidden=(128, 128)), 2000, 5e-3,
                           schedule="constant", lr_d=1e-3, d_steps=2)
RECIPES["flow_gan"] = GANRecipe("RealNVP-8 as a GAN's generator", lambda: RealNVP(2, n_layers=8, hidden=(64, 64)),
                                2000, 1e-3)

# The GAN recipe with the one change that makes it collapse on eight Gaussians (measured seed by
# seed in benchmarks/REPORT_ebm_gan.md): shown beside it in demos/14_gans.py.
# On seed 0, with one discriminator update per step (before d_steps = 2), neither the minimax loss
# (coverage 0.95) nor, in the earlier 1e-3 cosine setting, a
# discriminator rate of 1e-4 (0.76) collapsed it;
# Adam's default momentum b1 = 0.9 instead of 0.5 put every draw on one point (coverage 0).
# With the recipe's two discriminator updates the collapse is less complete: on eight Gaussians, seeds
# 0-4, coverage 0.00-0.58 (0, 1, 4, 7 and 8 modes reached), against the recipe's 0.84-0.95 (with one
# update it was 0 or 1 mode on every seed).
COLLAPSED_GAN = dataclasses.replace(RECIPES["gan"], label="GAN, Adam b1 = 0.9", betas=(0.9, 0.999))
