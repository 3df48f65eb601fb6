"""``fused``: one autograd primitive from a plain-NumPy forward and backward pass.

autograd's cost is per traced operation, so a whole network or layer traced as
ONE operation, with its backward pass written by hand, is the main speed lever.
Three rules keep that exact and stateless:

- The forward pass returns its intermediates (residuals) beside its output; they
  are handed to the backward pass through a holder made fresh for each call, so
  nothing outlives the call and two threads never share one.
- The backward pass runs on plain arrays. If autograd ever hands it a traced
  cotangent (differentiating a VJP, as a Gauss-Newton product does), it uses the
  reference function's own VJP instead, which autograd can differentiate.
- ``reference`` is the same map written with autograd.numpy: the tests compare
  the two, and it is the fallback above.
"""
from autograd import make_vjp
from autograd.extend import defvjp_argnums, primitive

from .registry import has_box

__all__ = ["fused"]


def fused(forward, backward, reference, name):
    """A differentiable function ``call(*args)`` with a hand-written VJP.

    forward(*args) -> (output, residuals), in plain NumPy.
    backward(residuals, g, argnums, *args) -> one gradient per argnum, plain NumPy.
    reference(*args) -> output: the same map in autograd-traceable code.
    """
    def run(holder, *args):
        out, residuals = forward(*args)
        holder.append(residuals)  # this call's own holder: read once by the VJP below
        return out

    run.__name__ = run.__qualname__ = name
    prim = primitive(run)

    def make(argnums, ans, prim_args, kwargs):
        holder, args = prim_args[0], prim_args[1:]
        residuals = holder.pop() if holder else forward(*args)[1]
        nums = tuple(i - 1 for i in argnums)  # positions in args (the holder is argument 0)

        def vjp(g):
            if has_box(g):  # the backward pass itself is being differentiated
                return make_vjp(reference, argnum=nums)(*args)[0](g)
            return backward(residuals, g, nums, *args)

        return vjp

    defvjp_argnums(prim, make)

    def call(*args):
        return prim([], *args)

    call.__name__ = call.__qualname__ = name
    call.reference = reference
    return call
