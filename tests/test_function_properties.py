"""Property: any sequence of Variable reads and assignments gives the same results compiled
by xf.function as run eagerly, call after call."""

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as xf

OPS = st.lists(st.tuples(st.sampled_from(["assign", "assign_add", "assign_sub", "read"]),
                         st.integers(0, 2), st.floats(-2, 2, width=32)),
               min_size=1, max_size=8)


def program(variables, ops):
    def step(x):
        outputs = []
        for kind, index, coef in ops:
            v = variables[index]
            if kind == "read":
                outputs.append(v.value * coef + x)
            elif kind == "assign":
                v.assign(v.value * coef + x)
            else:
                getattr(v, kind)(x * coef)
        return outputs

    return step


@settings(max_examples=25, deadline=None)
@given(ops=OPS, shape=st.sampled_from([(), (3,), (2, 2)]), calls=st.integers(1, 3))
def test_compiled_matches_eager(ops, shape, calls):
    def fresh():
        return [xf.Variable(jnp.full(shape, float(i + 1)), name=f"v{i}") for i in range(3)]

    eager_vars, compiled_vars = fresh(), fresh()
    eager = program(eager_vars, ops)
    compiled = xf.function(program(compiled_vars, ops))
    for call in range(calls):
        x = jnp.full(shape, 0.5 * (call + 1), jnp.float32)
        expect, got = eager(x), compiled(x)
        assert len(expect) == len(got)
        for e, g in zip(expect, got):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
        for e, g in zip(eager_vars, compiled_vars):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
    assert compiled.tracing_count == 1
