"""VAE: the ELBO, its decomposition and the marginal-likelihood estimators, checked on
probabilistic PCA, where everything is known in closed form:

    z ~ N(0, I_k),  x | z ~ N(W z + b, s^2 I_D)
    log p(x) = log N(x; b, W W^T + s^2 I)
    p(z | x) = N(M^-1 W^T (x - b), s^2 M^-1),   M = W^T W + s^2 I

As a VAE: hidden=() (linear encoder and decoder), decoder mean z W^T + b, fixed scale s.
"""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tinygen.functional import inv_softplus, logsumexp
from tinygen.testing import check_bound
from tinygen.testing.strategies import seeds
from tinygen.vae import VAE


# ---- the linear-Gaussian model and its closed forms -----------------------------------------
def ppca(rng, x_dim=3, z_dim=2, s=0.5, orthogonal=False, posterior=None):
    W = rng.normal(size=(x_dim, z_dim))
    if orthogonal:  # W = Q diag(d): M is diagonal, so the true posterior is a diagonal Gaussian
        W = np.linalg.qr(W)[0] * rng.uniform(0.5, 2.0, size=z_dim)
    b = rng.normal(size=x_dim)
    vae = VAE(x_dim, z_dim, hidden=(), decoder_scale=s, posterior=posterior)
    params = vae.init(rng)
    params["decoder"] = [{"W": W.T.copy(), "b": b}]
    return vae, params, W, b, s


def log_evidence(x, W, b, s):
    C = W @ W.T + s ** 2 * np.eye(len(b))
    r = x - b
    return -0.5 * (np.sum(r * np.linalg.solve(C, r.T).T, axis=1)
                   + np.linalg.slogdet(C)[1] + len(b) * np.log(2 * np.pi))


def true_posterior(x, W, b, s):
    M = W.T @ W + s ** 2 * np.eye(W.shape[1])
    return np.linalg.solve(M, W.T @ (x - b).T).T, s ** 2 * np.linalg.inv(M)


def set_encoder(params, A, c, sigma):
    """mu = x A + c, sigma constant: the linear encoder can hold PPCA's true posterior."""
    params["encoder"]["head"] = {"W": np.hstack([A, np.zeros_like(A)]),
                                 "b": np.concatenate([c, inv_softplus(sigma)])}
    return params


def analytic_terms(x, mu, sigma, W, b, s):
    """E_q[-log p(x|z)], KL(q || p(z)), KL(q || p(z|x)) for q = N(mu, diag sigma^2)."""
    D = len(b)
    resid = x - mu @ W.T - b
    recon = 0.5 / s ** 2 * (np.sum(resid ** 2, 1) + np.sum(sigma ** 2 * np.sum(W ** 2, 0), 1)) \
        + D * np.log(s) + 0.5 * D * np.log(2 * np.pi)
    kl_prior = 0.5 * np.sum(sigma ** 2 + mu ** 2 - 1 - 2 * np.log(sigma), 1)
    m, S = true_posterior(x, W, b, s)
    Si = np.linalg.inv(S)
    d = m - mu
    kl_latent = 0.5 * (np.sum(np.diag(Si) * sigma ** 2, 1) + np.sum(d @ Si * d, 1) - W.shape[1]
                       + np.linalg.slogdet(S)[1] - np.sum(2 * np.log(sigma), 1))
    return recon, kl_prior, kl_latent


def mean_se(a):
    return a.mean(), a.std(ddof=1) / np.sqrt(a.size)


# ---- the bound and the lecture's decomposition ------------------------------------------------
@settings(max_examples=20)
@given(seed=seeds, scale=st.sampled_from([0.1, 1.0, 3.0]))
def test_elbo_below_evidence_and_decomposition_for_any_encoder(seed, scale):
    rng = np.random.default_rng(seed)
    vae, params, W, b, s = ppca(rng)
    set_encoder(params, scale * rng.normal(size=(3, 2)), rng.normal(size=2), rng.uniform(0.05, 2.0, 2))
    x = W @ rng.normal(size=(2, 4)) + b[:, None] + s * rng.normal(size=(3, 4))
    x = x.T
    mu, sigma = vae.encode(params, x)
    recon, kl_prior, kl_latent = analytic_terms(x, mu, sigma, W, b, s)
    log_px = log_evidence(x, W, b, s)
    # log p(x) = -reconstruction - complexity + latent KL (exact; 1e-8 = float64 round-off
    # of sums of O(10-100) terms) and ELBO <= log p(x) because the latent KL is >= 0
    assert np.allclose(-recon - kl_prior + kl_latent, log_px, atol=1e-8)
    assert np.all(-recon - kl_prior <= log_px + 1e-9)
    # the VAE's terms: closed-form complexity exactly, reconstruction to Monte Carlo error
    R = 1000
    out = vae.elbo(params, np.repeat(x, R, axis=0), rng, n_samples=1)
    assert np.allclose(out["complexity"][::R], kl_prior, atol=1e-10)
    for i in range(x.shape[0]):
        m, se = mean_se(out["reconstruction"][i * R:(i + 1) * R])
        assert abs(m - recon[i]) < 5 * se + 1e-9  # 5 standard errors: fails by chance < 1e-6
    # the one-sample Monte Carlo ELBO stays below log p(x) within 5 standard errors
    check_bound(lambda r: vae.elbo(params, x, r)["elbo"], log_px, repeats=50, rng=seed, n_se=5).assert_ok()


def test_true_posterior_makes_the_bound_tight():
    rng = np.random.default_rng(1)
    vae, params, W, b, s = ppca(rng, x_dim=4, z_dim=2, orthogonal=True)
    M = W.T @ W + s ** 2 * np.eye(2)
    A = W @ np.linalg.inv(M)  # mu = (x - b) W M^-1 = M^-1 W^T (x - b), M diagonal
    set_encoder(params, A, -b @ A, s / np.sqrt(np.diag(M)))
    x = rng.normal(size=(6, 4)) * 2
    log_px = log_evidence(x, W, b, s)
    # with q = p(z|x), log p(x|z) + log p(z) - log q(z|x) = log p(x) for EVERY z: no MC error,
    # so the kit's tolerance is its atol alone, 1e-9 (round-off of O(10) sums)
    mc = lambda r: vae.elbo(params, x, r, n_samples=3, analytic_kl=False)["elbo"]  # noqa: E731
    check_bound(mc, log_px, tight=True, repeats=3).assert_ok()
    assert np.allclose(vae.log_weights(params, x, rng, k=7), log_px, atol=1e-9)
    check_bound(lambda r, k: vae.log_prob(params, x, r, k=k), log_px, k=[1, 5], tight=True, repeats=3).assert_ok()
    # the analytic-KL ELBO has only the reconstruction's MC noise, and the latent KL is 0
    mu, sigma = vae.encode(params, x)
    assert np.allclose(analytic_terms(x, mu, sigma, W, b, s)[2], 0.0, atol=1e-10)
    # ... so its mean is log p(x), within 5 standard errors of 200 one-sample estimates
    check_bound(lambda r: vae.elbo(params, x, r)["elbo"], log_px, tight=True, repeats=200, n_se=5).assert_ok()


def test_iwae_bound_increases_with_k_towards_log_evidence():
    rng = np.random.default_rng(2)
    vae, params, W, b, s = ppca(rng)
    set_encoder(params, 0.3 * rng.normal(size=(3, 2)), np.zeros(2), np.full(2, 0.6))  # a poor q
    x = rng.normal(size=(4, 3)) + b
    log_px = log_evidence(x, W, b, s)
    # below log p(x) at every K, not falling with K and visibly rising from K = 1 to 1000
    # (4 standard errors of 100 repeats each)
    report = check_bound(lambda r, k: vae.log_prob(params, x, r, k=k), log_px, k=[1, 10, 100, 1000],
                         repeats=100, rng=rng)
    report.assert_ok()
    gaps = np.array([log_px - report.estimates[k][0] for k in (1, 10, 100, 1000)])
    assert np.all(np.diff(gaps, axis=0) < 0)  # tighter with every tenfold K
    assert np.all(gaps[0] > 1.0) and np.all(gaps[-1] < 0.1 * gaps[0])


def test_prior_estimator_is_unbiased_for_p_not_log_p():
    rng = np.random.default_rng(3)
    vae, params, W, b, s = ppca(rng, x_dim=2, z_dim=1, s=0.8)
    x = np.array([[0.3, -0.2]]) + b
    log_px = log_evidence(x, W, b, s)[0]
    ratios, logs = [], []
    for r in range(1500):
        est = vae.log_prob_prior_mc(params, x, np.random.default_rng(r), k=5)[0]
        ratios.append(np.exp(est - log_px))
        logs.append(est)
    m, se = mean_se(np.array(ratios))
    assert abs(m - 1.0) < 5 * se  # E[p_hat] = p(x): 5 SE
    m_log, se_log = mean_se(np.array(logs))
    assert m_log < log_px - 5 * se_log  # Jensen: E[log p_hat] < log p(x), visibly at K = 5


def test_closed_form_kl_matches_monte_carlo():
    rng = np.random.default_rng(4)
    vae = VAE(3, 2, hidden=(8,))
    params = vae.init(rng)
    x = rng.normal(size=(3, 3))
    closed = vae.elbo(params, x, rng)["complexity"]
    R = 20000
    mc = vae.elbo(params, np.repeat(x, R, axis=0), rng, analytic_kl=False)["complexity"]
    for i in range(3):
        m, se = mean_se(mc[i * R:(i + 1) * R])
        assert abs(m - closed[i]) < 5 * se  # 5 standard errors
        assert closed[i] >= 0.0


def test_reparameterized_gradient_of_quadratic():
    rng = np.random.default_rng(5)
    vae = VAE(2, 2, hidden=())
    params = vae.init(rng)
    x = np.array([[0.5, -1.0]])
    a, c = np.array([1.0, 0.5]), np.array([-0.3, 2.0])

    def with_head(head):
        return {**params, "encoder": {"trunk": [], "head": head}}

    def mc(head):  # E_q[f(z)] ~ (1/S) sum_s f(mu + eps_s sigma), f(z) = sum_j a_j z_j^2 + c_j z_j
        z, _, _ = vae.posterior_sample(with_head(head), x, np.random.default_rng(0), n_samples=40000)
        return anp.mean(anp.sum(a * z ** 2 + c * z, axis=-1))

    def exact(head):  # E_q[f(z)] = sum_j a_j (mu_j^2 + sigma_j^2) + c_j mu_j
        mu, sigma = vae.encode(with_head(head), x)
        return anp.sum(a * (mu ** 2 + sigma ** 2) + c * mu)

    g_mc, g_exact = grad(mc)(params["encoder"]["head"]), grad(exact)(params["encoder"]["head"])
    for key in ("W", "b"):
        # one-sample gradients have std ~ 2 a sigma |x| ~ 2 here, so SE ~ 0.01 at S = 4e4
        # (max error over 5 seeds: 0.015); 0.05 ~ 5 SE, against gradients of size 0.4-2.5
        assert np.allclose(g_mc[key], g_exact[key], atol=0.05)
    assert np.abs(g_exact["W"]).max() > 0.5  # the check is not vacuous


# ---- flow posteriors --------------------------------------------------------------------------
@pytest.mark.parametrize("posterior", ["planar", "iaf"])
def test_flow_posterior_density_and_bound(posterior):
    rng = np.random.default_rng(6)
    vae, params, W, b, s = ppca(rng, posterior=posterior)
    for k, p in enumerate(params["flow"]):  # move the flow away from the identity
        params["flow"][k] = perturb(p, rng)
    x = rng.normal(size=(3, 3)) + b
    z, log_q, (mu, sigma) = vae.posterior_sample(params, x, rng, n_samples=2)
    # log q_K(z_K|x) by the inverse: log q_0(g(z_K)) + log|det dg/dz_K|
    flat = z.reshape(6, 2)
    ctx = None if vae.flow.context_dim == 0 else np.concatenate([x, x])  # hidden=(): h(x) = x
    z0, ld = vae.flow.inverse(params["flow"], flat, ctx)
    ref = np.sum(-0.5 * ((z0 - np.concatenate([mu, mu])) / np.concatenate([sigma, sigma])) ** 2
                 - np.log(np.concatenate([sigma, sigma])) - 0.5 * np.log(2 * np.pi), 1) + ld
    assert np.allclose(log_q.reshape(6), ref, atol=1e-8)  # inverse solved to round-off
    check_bound(lambda r: vae.elbo(params, x, r)["elbo"], log_evidence(x, W, b, s), repeats=200, n_se=5).assert_ok()


@settings(max_examples=20)
@given(seed=seeds, n_layers=st.integers(1, 4), z_dim=st.integers(1, 3))
def test_iaf_posterior_starts_as_the_gaussian_posterior_of_the_same_seed(seed, n_layers, z_dim):
    # every IAF layer starts at mu = alpha = 0, and the reversals between the layers pair up, so at
    # init z_K = z_0 and q_K = q_0: the same numbers as the Gaussian-posterior VAE of the same seed
    # (x * exp(0) + 0 = x exactly, so equality, not closeness)
    gauss = VAE(3, z_dim, hidden=(8,))
    iaf = VAE(3, z_dim, hidden=(8,), posterior="iaf", n_layers=n_layers, flow_hidden=(8,))
    x = np.random.default_rng(seed).normal(size=(5, 3))
    p_gauss, p_iaf = gauss.init(seed), iaf.init(seed)
    z_g, log_q_g, _ = gauss.posterior_sample(p_gauss, x, seed + 1, n_samples=2)
    z_i, log_q_i, _ = iaf.posterior_sample(p_iaf, x, seed + 1, n_samples=2)
    assert np.array_equal(z_i, z_g) and np.array_equal(log_q_i, log_q_g)
    e_g = gauss.elbo(p_gauss, x, seed + 2, analytic_kl=False)["elbo"]
    assert np.array_equal(iaf.elbo(p_iaf, x, seed + 2)["elbo"], e_g)


def perturb(p, rng, scale=0.3):
    """Random non-trivial flow parameters (leaves of a pytree) of the same shapes."""
    if isinstance(p, dict):
        return {k: perturb(v, rng, scale) for k, v in p.items()}
    if isinstance(p, list):
        return [perturb(v, rng, scale) for v in p]
    return np.asarray(p) + scale * rng.normal(size=np.shape(p))


# ---- generation and shapes --------------------------------------------------------------------
def test_sample_decode_interpolate_bernoulli():
    rng = np.random.default_rng(7)
    vae = VAE(6, 2, hidden=(8,), likelihood="bernoulli")
    params = vae.init(rng)
    x = (rng.uniform(size=(5, 6)) < 0.5).astype(float)
    xs = vae.sample(params, 4, rng)
    assert xs.shape == (4, 6) and set(np.unique(xs)) <= {0.0, 1.0}
    probs = vae.sample(params, 4, rng, mean=True)
    assert np.all((probs > 0) & (probs < 1))
    path = vae.interpolate(params, x[0], x[1], steps=5)
    mu, _ = vae.encode(params, x[:2])
    assert path.shape == (5, 6)
    assert np.allclose(path[[0, -1]], vae.decode(params, mu), atol=1e-12)
    out = vae.elbo(params, x, rng, n_samples=3)
    assert all(v.shape == (5,) for v in out.values())
    assert np.all(out["reconstruction"] > 0)  # -log of a probability of a binary vector
    assert np.isfinite(vae.loss(params, x, rng))


# ---- bad input --------------------------------------------------------------------------------
def test_bad_input():
    vae = VAE(2, 2, hidden=(4,))
    params = vae.init(0)
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"^x: "):
        vae.elbo(params, np.zeros((3, 5)), 0)
    with pytest.raises(ValueError, match=r"^k: "):
        vae.log_prob(params, x, 0, k=0)
    with pytest.raises(TypeError, match=r"^k: "):
        vae.log_prob_prior_mc(params, x, 0, k=2.5)
    with pytest.raises(ValueError, match=r"^n_samples: "):
        vae.elbo(params, x, 0, n_samples=0)
    with pytest.raises(ValueError, match=r"^likelihood: "):
        VAE(2, 2, likelihood="poisson")
    with pytest.raises(ValueError, match=r"^posterior: "):
        VAE(2, 2, posterior="realnvp")
    with pytest.raises(TypeError, match=r"^posterior: "):
        VAE(2, 2, posterior=3)
    with pytest.raises(ValueError, match=r"^decoder_scale: "):
        VAE(2, 2, decoder_scale=-1.0)
    with pytest.raises(ValueError, match=r"^rng: "):
        vae.loss(params, x)
    with pytest.raises(ValueError, match=r"^context: "):
        vae.loss(params, x, 0, context=np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"^x_b: "):
        vae.interpolate(params, x[0], np.zeros(3))
    bern = VAE(2, 2, hidden=(4,), likelihood="bernoulli")
    with pytest.raises(ValueError, match=r"^x: expected binary"):
        bern.elbo(bern.init(0), np.full((3, 2), 0.5), 0)


def test_bernoulli_vae_bounds_against_quadrature():
    # 1-D latent: log p(x) = log int N(z; 0, 1) p(x|z) dz on a fine grid (error << 1e-6)
    rng = np.random.default_rng(8)
    vae = VAE(4, 1, hidden=(8,), likelihood="bernoulli")
    params = vae.init(rng)
    # damp the decoder so logits are O(1): p(z|x) stays broad and a random q covers it,
    # else the importance weights are heavy-tailed and K = 5000 is not enough
    params["decoder"] = [{"W": 0.3 * l["W"], "b": l["b"]} for l in params["decoder"]]
    x = (rng.uniform(size=(5, 4)) < 0.5).astype(float)
    z = np.linspace(-10, 10, 8001)[:, None]
    probs = vae.decode(params, z)  # (G, 4)
    log_lik = np.log(probs) @ x.T + np.log1p(-probs) @ (1 - x).T  # log p(x_i | z_g), (G, n)
    log_joint = log_lik - 0.5 * z ** 2 - 0.5 * np.log(2 * np.pi)
    # Riemann sum on the uniform grid (= trapezoid rule, the integrand is ~0 at +-10)
    log_px = logsumexp(log_joint, axis=0) + np.log(z[1, 0] - z[0, 0])
    check_bound(lambda r: vae.elbo(params, x, r)["elbo"], log_px, repeats=200, n_se=5).assert_ok()
    naive = vae.log_prob_prior_mc(params, x, rng, k=20000)
    # a q wider than p(z|x) (sd ~1 here) makes the importance weights light-tailed
    params["encoder"]["head"] = {"W": 0.0 * params["encoder"]["head"]["W"], "b": np.array([0.0, 1.5])}
    iwae = vae.log_prob(params, x, rng, k=5000)
    # 1-D latent, K in the thousands: both estimators are within ~0.02 nats (several SE)
    assert np.allclose(iwae, log_px, atol=0.02)
    assert np.allclose(naive, log_px, atol=0.02)


# ---- the amortized planar posterior -------------------------------------------------------------
@settings(max_examples=10)
@given(seed=seeds, scale=st.sampled_from([0.3, 1.0]))
@example(seed=190, scale=1.0)  # w^T u reaches -836 for one x
def test_amortized_planar_keeps_the_constraint_and_is_a_flow_for_every_x(seed, scale):
    # scale: random perturbations of the encoder head up to 1. There, w^T u can already fall below
    # -745 for some x (seed 190 reaches -836), where softplus(w^T u) = 1 + w^T u_hat ~ e^{w^T u}
    # underflows to 0 in float64; the constraint is checked where that number is representable.
    from tinygen.flows.planar import constrained_u, one_plus_c
    from tinygen.testing import check_flow

    rng = np.random.default_rng(seed)
    vae = VAE(3, 2, hidden=(8,), posterior="amortized_planar", n_layers=3)
    params = vae.init(rng)
    params["encoder"]["planar"] = perturb(params["encoder"]["planar"], rng, scale)  # far from the init
    x = 2 * rng.normal(size=(6, 3))
    mu, sigma, h = vae._encode(params, x)
    for u, w, _b in vae._planar_layers(params["encoder"], h):  # (n, D), (n, D), (n,): one layer per x
        u_hat = constrained_u(u, w)
        # w^T u_hat = -1 + softplus(w^T u) > -1 for every x; the log-det uses 1 + w^T u_hat = softplus(w^T u)
        # itself, strictly positive; the sum can round to -1 exactly once w^T u < -37 (hence the 1e-9)
        representable = np.sum(w * u, axis=1) > -700  # e^{-700} ~ 1e-304 is still a normal float64
        assert np.all(one_plus_c(u, w)[representable] > 0)
        assert np.all(np.sum(w * u_hat, axis=1) >= -1.0 - 1e-9)
        for i in range(len(x)):  # the batched constraint is the one-layer constraint, row by row
            assert np.allclose(u_hat[i], constrained_u(u[i], w[i]), rtol=0, atol=1e-12)
    z, log_q, _ = vae.posterior_sample(params, x, rng, n_samples=2)
    for i in range(len(x)):
        flow, flow_params = vae.posterior_flow(params, x[i:i + 1])
        # x_i's posterior flow passes the kit: invertible both ways, hand-written log-dets against
        # slogdet(autograd.jacobian), cancelling, a gradient for every parameter (default 1e-6).
        # Run at scale 0.3 only: at 1, some layers have |w| ~ 12 and are saturated at every test
        # point (tanh clipped at |a| = 30, so b gets an exactly zero gradient) or nearly folded
        # (1 + w^T u_hat ~ e^-18, where the log-dets cancel only to ~1e-4): the layer is right,
        # the float64 conditioning is not
        if scale < 1.0:
            check_flow(flow, flow_params, rng=seed + i).assert_ok()
        # and log q_K(z_K | x_i) = log q_0(g(z_K)) + log|det dg/dz_K|, the density the ELBO uses
        z0, ld = flow.inverse(flow_params, z[:, i])
        ref = np.sum(-0.5 * ((z0 - mu[i]) / sigma[i]) ** 2 - np.log(sigma[i]) - 0.5 * np.log(2 * np.pi), 1) + ld
        assert np.allclose(log_q[:, i], ref, atol=1e-8)  # the planar inverse is solved to round-off


def test_amortized_planar_bound_stays_below_the_evidence():
    rng = np.random.default_rng(9)
    vae, params, W, b, s = ppca(rng, posterior="amortized_planar")
    params["encoder"]["planar"] = perturb(params["encoder"]["planar"], rng)
    x = rng.normal(size=(3, 3)) + b
    log_px = log_evidence(x, W, b, s)  # exact (PPCA)
    # L_1 (the ELBO) <= L_10 <= L_100 <= log p(x), rising visibly from K = 1 to 100: a perturbed flow
    # posterior is not p(z | x), so the ELBO stays below the importance-sampled evidence (4 SE of 100 repeats)
    check_bound(lambda r, k: vae.log_prob(params, x, r, k=k), log_px, k=[1, 10, 100], repeats=100,
                rng=rng).assert_ok()
    elbo = lambda r: vae.elbo(params, x, r)["elbo"]  # noqa: E731  (the same bound through vae.elbo)
    check_bound(elbo, log_px, repeats=100, rng=rng).assert_ok()


def test_posterior_flow_needs_a_planar_posterior_and_one_point():
    vae = VAE(2, 2, hidden=(4,), posterior="amortized_planar")
    params = vae.init(0)
    with pytest.raises(ValueError, match=r"^x: "):
        vae.posterior_flow(params, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"^posterior: "):
        VAE(2, 2, hidden=(4,)).posterior_flow(VAE(2, 2, hidden=(4,)).init(0), np.zeros((1, 2)))


# ---- the third term: the latent loss KL(q(z|x) || p(z|x)) ------------------------------------
def test_latent_loss_is_zero_for_the_true_posterior_and_tends_to_the_exact_kl():
    rng = np.random.default_rng(5)
    vae, params, W, b, s = ppca(rng, x_dim=4, z_dim=2, orthogonal=True)
    M = W.T @ W + s ** 2 * np.eye(2)
    A = W @ np.linalg.inv(M)
    x = rng.normal(size=(3, 4)) * 2
    # q = p(z|x): every importance weight is p(x) and every ELBO sample log p(x), so the
    # estimate is 0 up to round-off of O(10) sums, whatever k and the draws
    set_encoder(params, A, -b @ A, s / np.sqrt(np.diag(M)))
    assert np.allclose(vae.latent_loss(params, x, rng, k=3, n_samples=2), 0.0, atol=1e-9)
    # a q off the posterior: the exact KL from the closed forms, against the estimate's mean over
    # R independent repeats per point
    set_encoder(params, 1.1 * A, -b @ A + 0.2, 1.3 * s / np.sqrt(np.diag(M)))  # wider than p(z|x)
    mu, sigma = vae.encode(params, x)
    exact = analytic_terms(x, mu, sigma, W, b, s)[2]
    assert np.all(exact > 0.1)  # far enough from q = p(z|x) for the comparison to say something
    # R independent repeats per point; 200 ELBO samples each keep the ELBO's own noise small
    R = 200
    xs = np.repeat(x, R, axis=0)
    for K, floor in ((1, None), (1000, 0.9)):
        est = vae.latent_loss(params, xs, rng, k=K, n_samples=200).reshape(3, R)
        m, se = est.mean(1), est.std(1, ddof=1) / np.sqrt(R)
        # 5 standard errors: each comparison fails by chance with probability < 1e-6
        if floor is None:  # K = 1: log p_hat_1 is a one-sample ELBO, so the estimate is 0 in expectation
            assert np.all(np.abs(m) < 5 * se)
        else:  # E[log p_hat_K] <= log p(x): not above the exact KL beyond noise, and at K = 1000 the
            # IWAE shortfall (about chi^2(p(z|x) || q) / (2K) for a q wider than p(z|x)) leaves
            # at least 90% of it
            assert np.all(m < exact + 5 * se)
            assert np.all(m > floor * exact)
