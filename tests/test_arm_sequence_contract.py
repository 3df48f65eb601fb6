"""A SequenceARM subclass is held to its contract: logits_onehot returns finite (n, T, V) logits.

Each broken subclass below is a mistake a student can make while writing their own
sequence model; the error must name their method and the expected shape, from
log_prob, logits and sample alike, and never blame an x the user did not pass.
"""
import autograd.numpy as np
import numpy as onp
import pytest
from autograd import grad
from autograd.misc import flatten

from tinygen.arm import RNNARM, SequenceARM

V, T, N = 3, 6, 4


class _Base(SequenceARM):
    """A correct one-layer causal model: l_t = b + (token at t - 1) W, read through the shifted input."""

    def init(self, rng):
        rng = onp.random.default_rng(rng)
        return {"W": rng.standard_normal((self.vocab_size + 1, self.vocab_size)), "b": onp.zeros(self.vocab_size)}

    def logits_onehot(self, params, e):
        return np.matmul(self.shifted(e), params["W"]) + params["b"]


class Correct(_Base):
    pass


class OneColumn(_Base):  # (n, T, 1): broadcasts against e and gives every sequence probability 1
    def logits_onehot(self, params, e):
        return super().logits_onehot(params, e)[:, :, :1]


class NoVocabAxis(_Base):  # (n, T): summed the vocabulary axis away
    def logits_onehot(self, params, e):
        return np.sum(super().logits_onehot(params, e), axis=-1)


class OneShort(_Base):  # (n, T - 1, V): dropped the last position
    def logits_onehot(self, params, e):
        return super().logits_onehot(params, e)[:, :-1]


class Infinite(_Base):  # a log of a probability that can be 0
    def logits_onehot(self, params, e):
        return np.log(0.0 * super().logits_onehot(params, e))


class ReturnsNothing(_Base):
    def logits_onehot(self, params, e):
        super().logits_onehot(params, e)  # forgot the return


def _x():
    return onp.random.default_rng(0).integers(0, V, (N, T))


def _calls(model, params):
    """Every public road to logits_onehot."""
    return {"log_prob": lambda: model.log_prob(params, _x()), "logits": lambda: model.logits(params, _x()),
            "loss": lambda: model.loss(params, _x()), "sample": lambda: model.sample(params, N, 0)}


def test_a_correct_subclass_is_accepted_and_normalized():
    model = Correct(V, T)
    params = model.init(0)
    assert model.logits(params, _x()).shape == (N, T, V)
    assert model.sample(params, N, 0).shape == (N, T)
    # sum over all V^T sequences of p(x) = 1 (exact enumeration; 1e-12 allows rounding of 729 terms)
    grid = onp.array(onp.meshgrid(*[onp.arange(V)] * T, indexing="ij")).reshape(T, -1).T
    assert abs(onp.exp(model.log_prob(params, grid)).sum() - 1.0) < 1e-12


@pytest.mark.parametrize("cls, got", [(OneColumn, (N, T, 1)), (NoVocabAxis, (N, T)), (OneShort, (N, T - 1, V))])
@pytest.mark.parametrize("call", ["log_prob", "logits", "loss", "sample"])
def test_wrong_shaped_logits_name_the_subclass_method(cls, got, call):
    model = cls(V, T)
    expected = rf"^{cls.__name__}\.logits_onehot: expected logits of shape \(n, T, V\) = \({N}, {T}, {V}\), " \
               rf"got {onp.asarray(got).tolist()}".replace("[", r"\(").replace("]", r"\)")
    with pytest.raises(ValueError, match=expected):
        _calls(model, model.init(0))[call]()


@pytest.mark.parametrize("call", ["log_prob", "sample"])
def test_non_finite_and_missing_logits_name_the_subclass_method(call):
    with pytest.raises(ValueError, match=r"^Infinite\.logits_onehot: expected finite logits"):
        _calls(Infinite(V, T), Infinite(V, T).init(0))[call]()
    with pytest.raises(TypeError, match=r"^ReturnsNothing\.logits_onehot: expected logits"):
        _calls(ReturnsNothing(V, T), ReturnsNothing(V, T).init(0))[call]()


def test_sample_never_blames_an_x_the_user_did_not_pass():
    for cls in (OneColumn, NoVocabAxis, OneShort, Infinite, ReturnsNothing):
        model = cls(V, T)
        with pytest.raises((ValueError, TypeError)) as err:
            model.sample(model.init(0), N, 0)
        assert str(err.value).startswith(f"{cls.__name__}.logits_onehot: "), str(err.value)


def test_the_shipped_models_meet_the_contract_under_training():
    # the check reads values only: gradients still flow through the logits
    model = RNNARM(V, T, hidden=4)
    params = model.init(0)
    g, _ = flatten(grad(model.loss)(params, _x()))
    assert onp.all(onp.isfinite(g)) and onp.any(g != 0)
    assert model.logits(params, _x()).shape == (N, T, V)
