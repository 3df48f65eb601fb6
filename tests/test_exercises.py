"""Every exercise in demos/exercises/ runs as shipped (its NaN placeholders fail every check,
without crashing) and, with the reference answer from tinygen put in its marked cell, passes
every check. The answers below call tinygen's own implementations, or write out the formulas
those implementations compute, which is where each exercise tells the student to look afterwards.
"""
import json
import re
from pathlib import Path

import pytest

EXERCISES = Path(__file__).resolve().parent.parent / "demos" / "exercises"
START, END = "# ---- your answer: start ----", "# ---- your answer: end ----"

ANSWERS = {
    "01_mle_heads.py": '''
from tinygen.distributions import Categorical
from tinygen.functional import log_normal_pdf, softplus


def categorical_nll(logits, x):
    return -Categorical(logits).log_prob(x)


def normal_nll(x, mu, rho):
    return -log_normal_pdf(x, mu, softplus(rho))
''',
    "02_made_masks.py": '''
from tinygen.arm.made import made_degrees, made_masks as _made_masks


def input_degrees(order):
    return made_degrees(order, (), None)[0]  # no hidden layer: only the input degrees


def made_masks(m_in, m_hidden):
    masks, _ = _made_masks([m_in, m_hidden], 1)  # one raw output (a Bernoulli logit) per x_d
    return masks[0], masks[1]
''',
    "03_elbo.py": '''
from tinygen.distributions import Normal, StandardNormal, kl_divergence
from tinygen.vae import reparameterize


def kl_to_prior(mu, sigma):
    return kl_divergence(Normal(mu, sigma), StandardNormal(mu.shape[1]))


def elbo(x, mu, sigma, log_likelihood, rng):
    z = reparameterize(mu, sigma, rng.standard_normal(mu.shape))
    return log_likelihood(x, z) - kl_to_prior(mu, sigma)
''',
    # the formulas of AffineCoupling (tinygen/flows/coupling.py), written for a mask
    "04_affine_coupling.py": '''
def coupling_forward(z, alpha, mu, mask):
    return mask * z + (1 - mask) * (z * np.exp(alpha) + mu)


def coupling_inverse(x, alpha, mu, mask):
    return mask * x + (1 - mask) * (x - mu) * np.exp(-alpha)


def coupling_log_det(alpha, mask):
    return np.sum((1 - mask) * alpha, axis=1)
''',
    # the right-hand sides tinygen.ode.log_density_dynamics builds, with the traces worked out by hand
    "06_instantaneous_change_of_variables.py": '''
def linear_rhs(t, state):
    z, logp = state
    return z @ A.T, -np.trace(A) * np.ones(np.shape(logp))  # Tr(df/dz) = Tr A at every point


def tanh_rhs(t, state):
    z, logp = state
    f = np.tanh(z @ W.T + t * c)
    return f, -np.sum((1 - f ** 2) * np.diag(W), axis=1)  # Tr(diag(1 - f^2) W) = sum_i (1 - f_i^2) W_ii
''',
    "05_composition.py": '''
from tinygen.flows import Compose


def compose_forward(layers, params, z):
    return Compose(layers).forward(params, z)


def compose_inverse(layers, params, x):
    return Compose(layers).inverse(params, x)
''',
    # Ho et al.'s eq. 7, as Schedule.posterior (tinygen/diffusion/schedule.py) computes it
    "07_ddpm_posterior.py": '''
def posterior_mean(x_t, x0, t, beta, alpha_bar):
    t = t[:, None]
    coef_x0 = onp.sqrt(alpha_bar[t - 1]) * beta[t] / (1 - alpha_bar[t])
    coef_xt = onp.sqrt(1 - beta[t]) * (1 - alpha_bar[t - 1]) / (1 - alpha_bar[t])
    return coef_x0 * x0 + coef_xt * x_t


def posterior_variance(t, beta, alpha_bar):
    t = t[:, None]
    return (1 - alpha_bar[t - 1]) / (1 - alpha_bar[t]) * beta[t]
''',
    "10_invertible_1x1_conv.py": '''
def conv1x1_forward(z, W):
    return np.einsum("dc,nchw->ndhw", W, z)                       # x_{d, i, j} = sum_c W_dc z_{c, i, j}


def conv1x1_inverse(x, W):
    return np.einsum("dc,nchw->ndhw", np.linalg.inv(W), x)


def conv1x1_log_det(W, height, width):
    return height * width * np.linalg.slogdet(W)[1]               # det(W kron I_HW) = det(W)^(H W)
''',
    # the formulas by hand: x_{k+1} = x_k - epsilon grad E(x_k) + sqrt(2 epsilon) xi (tinygen.ebm.langevin)
    "08_langevin.py": '''
def langevin_step(x, grad_energy, epsilon, xi):
    return x - epsilon * grad_energy(x) + np.sqrt(2 * epsilon) * xi
''',
    # D* = p / (p + q) = sigma(log p - log q) and V as a quadrature sum (tinygen.gan.judge)
    "09_optimal_discriminator.py": '''
def optimal_discriminator(log_p, log_q):
    return 1 / (1 + onp.exp(log_q - log_p))


def value(d, log_p, log_q, w):
    return onp.sum(w * (onp.exp(log_p) * onp.log(d) + onp.exp(log_q) * onp.log1p(-d)))
''',
}


def run(name, answer=None, monkeypatch=None):
    """Execute an exercise (optionally with its answer cell replaced) at quick sizes; its reports."""
    source = (EXERCISES / name).read_text()
    assert source.count(START) == 1 and source.count(END) == 1, f"{name}: one marked answer cell expected"
    if answer is not None:
        head, rest = source.split(START)
        source = head + START + "\n" + answer + "\n" + END + rest.split(END)[1]
    monkeypatch.setenv("TINYGEN_QUICK", "1")
    monkeypatch.setattr("sys.argv", [name])
    scope = {"__name__": "__main__", "__file__": str(EXERCISES / name)}
    exec(compile(source, str(EXERCISES / name), "exec"), scope)
    return scope["reports"]


def test_every_exercise_has_a_reference_answer():
    assert sorted(p.name for p in EXERCISES.glob("[0-9][0-9]_*.py")) == sorted(ANSWERS)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_blank_exercise_fails_every_check_without_crashing(name, monkeypatch, capsys):
    reports = run(name, monkeypatch=monkeypatch)
    assert reports and all(not r for r in reports.values()), {k: bool(r) for k, r in reports.items()}
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_reference_answer_passes_every_check(name, monkeypatch, capsys):
    reports = run(name, ANSWERS[name], monkeypatch)
    failing = {k: str(r) for k, r in reports.items() if not r}
    assert not failing, "\n".join(failing.values())
    out = capsys.readouterr().out
    assert re.search(r"(\d+) of \1 checks pass", out)


def percent_cells(text):
    """[(cell_type, source)] of a percent-format script: cells start at lines "# %%"."""
    cells = []
    for chunk in re.split(r"^# %%", text, flags=re.M)[1:]:
        header, _, body = chunk.partition("\n")
        if "[markdown]" in header:
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.strip().splitlines())
            cells.append(("markdown", body.strip()))
        else:
            cells.append(("code", body.strip()))
    return cells


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_notebook_pair_matches_the_script(name):
    # the .py is the reviewed source; its .ipynb (made by jupytext --to ipynb) must hold the same cells
    notebook = json.loads((EXERCISES / name.replace(".py", ".ipynb")).read_text())
    cells = [(c["cell_type"], "".join(c["source"]).strip()) for c in notebook["cells"]]
    assert cells == percent_cells((EXERCISES / name).read_text()), \
        f"{name}: regenerate with `jupytext --to ipynb demos/exercises/{name}`"
