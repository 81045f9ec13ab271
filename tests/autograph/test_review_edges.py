"""Edges found in review: nested generators, frame-reading builtins, super() in nested
classes, lists mutated in tensor branches, repeated keywords, zip(strict=True). Each case
compares the compiled function with the plain Python one."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

K = 5


class _Base:
    def val(self, k):
        return k * 2


def _kw(x, shift=1):
    return x + shift


def test_a_generator_defined_inside_runs_as_python():
    def f(x):
        def gen(n):
            i = 0
            while i < n:
                yield i
                i += 1

        def evens():
            for i in range(5):
                if i % 2 == 0:
                    yield i
        return x + sum(gen(4)) + sum(evens())

    assert int(xf.function(f)(jnp.int32(1))) == f(1) == 13


def test_eval_locals_globals_and_super_see_the_users_frame():
    def f(x):
        y = x * 2
        return eval("y + 1"), locals()["y"], globals()["K"]

    def g(x):
        class Child(_Base):
            def val(self, k):
                return super().val(k) + 1
        return x + Child().val(3)

    assert [float(v) for v in xf.function(f)(jnp.float32(1.0))] == [3.0, 2.0, 5.0]
    assert int(xf.function(g)(jnp.int32(1))) == g(1) == 8


def test_a_list_appended_to_in_both_branches_keeps_its_identity():
    def f(x):
        items = [1.0]
        alias = items
        if x > 0:
            items.append(x)
        else:
            items.append(-x)
        return len(alias), alias[1], len(items)

    def rebinds(x):
        items = [1.0]
        alias = items
        if x > 0:
            items = [x]
        else:
            items = [-x]
        return len(alias), items[0]

    for fn in (f, rebinds):
        for x in (2.0, -3.0):
            got = xf.function(fn)(jnp.float32(x))
            np.testing.assert_allclose([float(v) for v in got], fn(x))


def test_a_repeated_keyword_raises_as_python_does():
    def f(x):
        extra = {"shift": 3}
        return _kw(x, shift=1, **extra)

    def g(x):
        extra = {"shift": 3}
        return _kw(x, **extra)

    with pytest.raises(TypeError, match="_kw\\(\\) got multiple values for keyword "
                                        "argument 'shift'"):
        xf.function(f)(jnp.float32(1.0))
    assert float(xf.function(g)(jnp.float32(1.0))) == g(1.0) == 4.0


def test_zip_strict_over_tensors_raises_as_python_does():
    def f(x, y):
        total = 0.0
        for a, b in zip(x, y, strict=True):
            total += a * b
        return total

    for short, long in ((2, 3), (3, 2)):
        with pytest.raises(ValueError) as compiled:
            xf.function(f)(jnp.ones(short), jnp.ones(long))
        with pytest.raises(ValueError) as python:
            f([1.0] * short, [1.0] * long)
        assert str(compiled.value) == str(python.value)
    assert float(xf.function(f)(jnp.ones(3), jnp.ones(3))) == 3.0
