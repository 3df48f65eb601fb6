"""One training recipe per model family, and the values its demos are expected to print.

A recipe is everything that decides a result besides the seed: the architecture,
the number of Adam steps, the learning rate and its schedule, the batch size.
The tour (demos/00), the family demos (02, 04, 07, 08) and the README's first
model all train from ``RECIPES``, on the same two-moons split (``two_moons_split``),
so the numbers they print can be compared: same recipe, same seed, same result.
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

``expected_values()`` holds what the demos printed at their defaults over a few
seeds (measured by ``benchmarks/expected_values.py``, stored in
``tinygen/expected.json``); ``report`` prints a value beside it.
"""
import dataclasses
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import autograd.numpy as np
import numpy as onp

from . import data, evaluate
from ._validate import (
    as_batch,
    as_rng,
    check_finite_number,
    check_option,
    check_positive,
    check_positive_int,
    check_size,
)
from .arm import MADE
from .data.potentials import _panels
from .ebm import EBM, fit_ebm
from .flows import MAF, NeuralSplineFlow, RealNVP
from .functional import logsumexp
from .gan import GAN, Discriminator, fit_gan
from .nn import count_params
from .optim import fit, minimize
from .vae import VAE

NOISE = 0.05  # two moons' noise in every recipe run
N_TRAIN, N_TEST = 20000, 5000
IWAE_K = 200  # importance samples for a VAE's test log p(x) (the IWAE bound, tightening as K grows)
RECORD_ENV = "TINYGEN_RECORD"  # a file path: report() appends each value it prints (used to measure them)
QUICK_ENV = "TINYGEN_QUICK"  # "1": demos run at the tiny sizes they declare (tests, a first look)
EXPECTED_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected.json")


@dataclass(frozen=True)
class Recipe:
    """How one family is trained: ``build()`` makes the model (structure only)."""
    label: str
    build: Callable
    steps: int
    lr: float
    schedule: str = "cosine"
    batch_size: int = 256

    def train(self, x, seed=0, steps=None, **fit_kwargs):
        """(model, params, history): ``tinygen.fit`` of a fresh model from ``model.init(seed)``.

        ``steps`` overrides the recipe's count (a quick run); so do ``lr``, ``batch_size``,
        ``lr_schedule`` and ``log_every``. Other keywords go to fit (``callback``, ``x_val``,
        ``progress``, ...). ``seed`` is both the init's and the minibatches' rng.
        """
        steps = self.steps if steps is None else check_positive_int(steps, "steps")
        as_rng(seed, "seed")
        if "rng" in fit_kwargs:
            raise TypeError("rng: Recipe.train draws the init and the minibatches from seed=; pass seed= instead")
        known = set(inspect.signature(fit).parameters) - {"model", "params", "x", "steps", "rng"}
        for key in fit_kwargs:
            if key not in known:
                raise TypeError(f"{key}: Recipe.train passes keywords to tinygen.fit, which does not take it; "
                                f"expected one of {sorted(known)}")
        options = {"batch_size": self.batch_size, "lr": self.lr, "lr_schedule": self.schedule,
                   "log_every": max(1, steps // 4), **fit_kwargs}  # the recipe, then the caller's overrides
        model = self.build()
        params, history = fit(model, model.init(seed), x, steps=steps, rng=seed, **options)
        return model, params, history


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
    "vae_iaf": Recipe("VAE (IAF-2 q)", lambda: VAE(2, 2, hidden=(64, 64), posterior="iaf", n_flows=2),
                      5000, 5e-3, batch_size=512),
})


def two_moons_split(seed=0, n_train=N_TRAIN, n_test=N_TEST, labels=False):
    """(x_train, x_test, H): two moons (noise NOISE) from seeds ``seed`` and ``seed + 1``, and the
    exact entropy H(p) in nats, the lowest test NLL any model can reach.

    labels=True: ((x_train, k_train), (x_test, k_test), H), k the moon of each point (the same points).
    """
    as_rng(seed, "seed")
    for n, name in ((n_train, "n_train"), (n_test, "n_test")):
        check_size(2 * check_positive_int(n, name), name, n, f"{name} points of two moons (n x 2)")
    train = data.two_moons(n_train, noise=NOISE, rng=seed, labels=labels)
    test = data.two_moons(n_test, noise=NOISE, rng=seed + 1, labels=labels)
    return train, test, data.two_moons_entropy(NOISE)


def score(model, params, x_test, entropy, seed=0, k=IWAE_K):
    """Test NLL, its standard error and the gap NLL - H, which estimates KL(p || p_theta) >= 0.

    A VAE's log p(x) is the importance-sampled bound with k samples drawn from ``seed``.
    """
    k = check_positive_int(k, "k")
    as_batch(x_test, "x_test")
    check_finite_number(entropy, "entropy")
    kwargs = {"k": k} if isinstance(model, VAE) else {}
    nll, se = evaluate.test_nll(model, params, x_test, rng=seed, **kwargs)
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


# ----------------------------------------------------------------- energy-based models and GANs
#
# Neither family trains by ``tinygen.fit`` alone: an EBM's maximum likelihood needs negatives
# from its own sampler (``tinygen.ebm.fit_ebm``), a GAN alternates two players (``tinygen.gan.fit_gan``).
# Their recipes are ``Recipe``s with the few extra fields those functions take, and a ``train``
# with the same signature and result, (model, params, history). Measured seed by seed in
# benchmarks/REPORT_ebm_gan.md (benchmarks/bench_ebm_gan.py).

@dataclass(frozen=True)
class EBMRecipe(Recipe):
    """An EBM by maximum likelihood: ``pretrain`` steps of denoising score matching (a cheap start
    whose density already has the moons' shape), then ``steps`` of persistent contrastive divergence
    (``fit_ebm``, with the Langevin chains that ``build()`` gives the model, kept between updates).

    gradient="quadrature" replaces CD's sampled negatives by the exact expectation on a grid,
    possible in 2-D only: the same maximum-likelihood gradient E_data[grad E] - E_p[grad E], with
    E_p computed by Gauss-Legendre quadrature on the box (panels ``panel_width`` wide), i.e.
    gradient descent on the exact NLL  E_data[E_theta(x)] + log Z_theta. Not a sampler's estimate.
    """
    pretrain: int = 0
    gradient: str = "cd"
    panel_width: float = 0.5

    def train(self, x, seed=0, steps=None, progress=False):
        """(model, params, history) like ``Recipe.train``; a shorter ``steps`` shortens the
        pretraining in proportion. history["pretrain"] is the DSM phase's record."""
        steps = self.steps if steps is None else check_positive_int(steps, "steps")
        as_rng(seed, "seed")
        check_option(self.gradient, "gradient", ("cd", "quadrature"))
        x = as_batch(x, "x", 2)
        model = self.build()
        params, history = model.init(seed), {}
        options = {"lr": self.lr, "rng": seed, "lr_schedule": self.schedule, "progress": progress}
        if self.pretrain:
            pretrain = max(1, self.pretrain * steps // self.steps)
            params, history["pretrain"] = minimize(_on_batches(model.dsm_loss, x, self.batch_size, pass_rng=True),
                                                   params, pretrain, **options)
        if self.gradient == "quadrature":
            params, last = minimize(_on_batches(quadrature_nll(model), x, self.batch_size), params, steps, **options)
        else:
            params, last = fit_ebm(model, params, x, steps=steps, batch_size=self.batch_size, **options)
        history.update(last)
        return model, params, history


def _on_batches(loss, x, batch_size, pass_rng=False):
    """objective(params, rng) = loss(params, batch[, rng]) on a minibatch drawn from rng."""
    def objective(params, rng):
        batch = x[rng.choice(len(x), min(batch_size, len(x)), replace=False)]
        return loss(params, batch, rng) if pass_rng else loss(params, batch)
    return objective


def quadrature_nll(model, panel_width=0.5):
    """nll(params, x) = E_x[E_theta(x)] + log Z_theta, log Z by Gauss-Legendre quadrature on the box.

    Its gradient is the exact maximum-likelihood gradient E_data[grad E] - E_p[grad E] (2-D only).
    Panels ``panel_width`` wide with 8 nodes each: a coarser rule than ``EBM.log_z``'s (the gradient
    needs the bulk of Z, the reported NLL uses the fine one).
    """
    if model.dim != 2:
        raise ValueError(f"model: the quadrature gradient needs dim 2, got {model.dim}")
    panels = [max(1, int(onp.ceil((hi - lo) / check_positive(panel_width, "panel_width")))) for lo, hi in model.box]
    (t1, w1), (t2, w2) = (_panels(lo, hi, k) for (lo, hi), k in zip(model.box, panels))
    g1, g2 = onp.meshgrid(t1, t2, indexing="ij")
    nodes, log_w = onp.column_stack([g1.ravel(), g2.ravel()]), onp.log(onp.outer(w1, w2)).ravel()

    def nll(params, x):
        log_z = logsumexp(-model.energy(params, nodes) + log_w, axis=0)  # log sum_j W_j exp(-E(x_j))
        return np.mean(model.energy(params, x)) + log_z
    return nll


@dataclass(frozen=True)
class GANRecipe(Recipe):
    """A generator trained against a discriminator by ``fit_gan``: ``lr`` is the generator's
    learning rate, ``lr_d`` the discriminator's, ``schedule`` both schedules; ``loss`` the
    generator's loss. build() returns a ``GAN``, or a flow (then ``disc_hidden`` sizes its
    ``Discriminator``)."""
    lr_d: float = 1e-3
    loss: str = "non_saturating"
    d_steps: int = 1
    disc_hidden: tuple = (64, 64)
    betas: tuple = (0.5, 0.999)  # Adam's (b1, b2) for both players; b1 = 0.5 as in Radford et al. (2016)

    def train(self, x, seed=0, steps=None, progress=False):
        steps = self.steps if steps is None else check_positive_int(steps, "steps")
        as_rng(seed, "seed")
        model = self.build()
        critic = None if isinstance(model, GAN) else Discriminator(model.dim, hidden=self.disc_hidden)
        params, history = fit_gan(model, model.init(seed), x, steps=steps, rng=seed, batch_size=self.batch_size,
                                  lr_g=self.lr, lr_d=self.lr_d, loss=self.loss, d_steps=self.d_steps,
                                  discriminator=critic, schedule_g=self.schedule, schedule_d=self.schedule,
                                  betas=self.betas, progress=progress)
        return model, params, history


# the lecture's families, trained by tinygen.fit and scored by their test NLL: what the tour, the
# defaults benchmark and the peers compare (the EBM and GAN recipes below are measured apart)
LECTURE_RECIPES = tuple(RECIPES)

# Neither EBM recipe reaches the 0.10-nat target: on seed 0 (benchmarks/REPORT_ebm_gan.md) the CD recipe
# ends 1.60 nats above H(p) and the exact gradient 0.82; they are a starting point, not tuned.
RECIPES["ebm"] = EBMRecipe("EBM (DSM, then persistent CD)", lambda: EBM(2, hidden=(64, 64), steps=60, step_size=5e-3),
                           1000, 1e-3, pretrain=1500)
RECIPES["ebm_quadrature"] = EBMRecipe("EBM (exact gradient by quadrature)", lambda: EBM(2, hidden=(64, 64)),
                                      2000, 1e-2, gradient="quadrature", panel_width=0.25)
# constant rates, the generator's 5 times the discriminator's: on eight Gaussians (seed 0, 2000 steps)
# coverage 0.94, against 0.75 with both at 1e-3 cosine-decayed (a quarter of the draws between modes)
RECIPES["gan"] = GANRecipe("GAN (non-saturating)", lambda: GAN(2, latent_dim=2, hidden=(128, 128)), 2000, 5e-3,
                           schedule="constant", lr_d=1e-3)
RECIPES["flow_gan"] = GANRecipe("RealNVP-8 as a GAN's generator", lambda: RealNVP(2, n_layers=8, hidden=(64, 64)),
                                2000, 1e-3)

# The GAN recipe with the one change that makes it collapse on eight Gaussians (measured seed by
# seed in benchmarks/REPORT_ebm_gan.md): shown beside it in demos/14_gans.py.
# On seed 0 neither the minimax loss (coverage 0.95) nor, in the earlier 1e-3 cosine setting, a
# discriminator rate of 1e-4 (0.76) collapsed it;
# Adam's default momentum b1 = 0.9 instead of 0.5 put every draw on one point (coverage 0).
COLLAPSED_GAN = dataclasses.replace(RECIPES["gan"], label="GAN, Adam b1 = 0.9", betas=(0.9, 0.999))
