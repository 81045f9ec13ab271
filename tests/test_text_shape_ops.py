"""TF's shape and indexing ops on text (tf.string tensors held on the host as NumPy str
arrays): each checked against NumPy on the same arrays and TF's documented examples."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data.host_tensor import HostTensor
from xlaflow.errors import InvalidArgumentError

WORDS = np.array([["a", "bb", "ccc"], ["dd", "e", "ffff"]])


def _same(got, want):
    """`got` is a text tensor (a HostTensor of dtype xf.string) holding `want`'s values."""
    assert isinstance(got, HostTensor) and got.dtype == xf.string, type(got)
    assert got.dtype.name == "string"
    assert got.shape == np.shape(want)
    np.testing.assert_array_equal(np.asarray(got.view(np.ndarray)), want)


@pytest.fixture
def text():
    return xf.constant(WORDS)


def test_shape_ops_on_text_match_numpy(text):
    _same(xf.expand_dims(text, 0), WORDS[None])
    _same(xf.expand_dims(text, -1), WORDS[..., None])
    _same(xf.squeeze(xf.expand_dims(text, 1)), WORDS)
    _same(xf.squeeze(xf.constant([["a"], ["b"]]), axis=[1]), np.array(["a", "b"]))
    _same(xf.reshape(text, [3, -1]), WORDS.reshape(3, 2))
    _same(xf.reshape([["x", "y"]], [2]), np.array(["x", "y"]))  # a Python list of text
    _same(xf.transpose(text), WORDS.T)
    _same(xf.transpose(xf.expand_dims(text, 0), perm=[2, 0, 1]),
          np.transpose(WORDS[None], (2, 0, 1)))
    _same(xf.tile(text, [2, 1]), np.tile(WORDS, (2, 1)))
    _same(xf.reverse(text, [1]), WORDS[:, ::-1])
    _same(xf.reverse(text, [0, -1]), WORDS[::-1, ::-1])
    _same(xf.identity(text), WORDS)
    assert xf.shape(text).tolist() == [2, 3] and int(xf.size(text)) == 6
    assert int(xf.rank(text)) == 2


def test_joining_ops_on_text(text):
    _same(xf.concat([text, text[:1]], 0), np.concatenate([WORDS, WORDS[:1]]))
    # widths differ (NumPy's <U4 and <U7): one text dtype, as TF's
    _same(xf.concat([text, xf.constant([["longer"], ["x"]])], axis=-1),
          np.concatenate([WORDS, [["longer"], ["x"]]], axis=1))
    _same(xf.concat([["a", "b"], ["c"]], 0), np.array(["a", "b", "c"]))  # lists, as TF
    _same(xf.stack([text, text], axis=1), np.stack([WORDS, WORDS], axis=1))
    _same(xf.stack(["a", "b"]), np.array(["a", "b"]))  # scalars
    with pytest.raises(ValueError, match=r"tf.stack: values\[1\] has shape \(1, 3\)"):
        xf.stack([text, text[:1]])
    with pytest.raises(ValueError, match=r"tf.concat: values\[1\] has shape \(2, 2\)"):
        xf.concat([text, text[:, :2]], 0)
    with pytest.raises(TypeError, match=r"tf.concat: argument 'values\[1\]' must be text"):
        xf.concat([text, jnp.zeros((1, 3))], 0)  # TF's ops take one dtype


def test_gather_on_text_as_tf_documents():
    # TF's guide (tensor_slicing): tf.gather(alphabet, indices=[2, 0, 19, 18])
    alphabet = xf.constant(list("abcedfghijklmnopqrstuvwxyz"))
    got = xf.gather(alphabet, indices=[2, 0, 19, 18])
    assert got.numpy().tolist() == [b"c", b"a", b"t", b"s"]
    text = xf.constant(WORDS)
    _same(xf.gather(text, jnp.asarray([[1, 0]]), axis=1), np.take(WORDS, [[1, 0]], axis=1))
    _same(xf.gather(text, [[2], [0]], axis=1, batch_dims=1), [["ccc"], ["dd"]])
    with pytest.raises(InvalidArgumentError, match=r"indices\[1\] = 3 is not in \[0, 3\)"):
        xf.gather(text, [0, 3], axis=1)
    with pytest.raises(TypeError, match=r"tf.gather: argument 'indices' must be integers"):
        xf.gather(text, [0.5])


def test_boolean_mask_and_where_on_text(text):
    _same(xf.boolean_mask(text, [False, True]), WORDS[[False, True]])
    mask = np.array([[True, False, True], [False, False, True]])
    _same(xf.boolean_mask(text, jnp.asarray(mask)), WORDS[mask])
    _same(xf.boolean_mask(text, [True, False, True], axis=1), WORDS[:, [True, False, True]])
    with pytest.raises(ValueError, match=r"mask of shape \(3,\) does not match"):
        xf.boolean_mask(text, [True, False, True])
    other = xf.constant("z", shape=(2, 3))
    _same(xf.where(mask, text, other), np.where(mask, WORDS, "z"))
    _same(xf.where(jnp.asarray([True, False, False]), text, "-"),  # broadcast, a str
          np.where([True, False, False], WORDS, "-"))
    with pytest.raises(TypeError, match=r"tf.where: argument 'y' must be text"):
        xf.where(mask, text, 0)


def test_indexing_text_gives_text(text):
    _same(text[1], WORDS[1])
    _same(text[:, 1:], WORDS[:, 1:])
    _same(text[..., 0], WORDS[..., 0])
    assert text[0, 2].numpy() == b"ccc"  # one value: TF's bytes


def test_binary_strings_keep_their_bytes():
    binary = xf.constant([b"\xff\x00", b"ok"])  # not UTF-8: an object array of bytes
    got = xf.concat([binary, xf.constant(["z"])], 0)
    assert got.dtype == xf.string and got.numpy().tolist() == [b"\xff\x00", b"ok", b"z"]
    assert xf.reverse(binary, [0]).numpy().tolist() == [b"ok", b"\xff\x00"]
    assert xf.expand_dims(binary, 0).numpy().tolist() == [[b"\xff\x00", b"ok"]]


def test_text_inside_a_trace_is_still_refused(text):
    @xf.function
    def f():
        return xf.expand_dims(text, 0)

    with pytest.raises(TypeError, match=r"(?s)tf.expand_dims: received strings.*no string"):
        f()
    with pytest.raises(TypeError, match=r"(?s)tf.where: received strings.*no string"):
        jax.jit(lambda c: xf.where(c, text, text))(jnp.ones((2, 3), bool))


def test_numeric_ops_are_unchanged():
    x = jnp.arange(6.0).reshape(2, 3)
    out = xf.concat([x, x], 0)
    assert isinstance(out, jax.Array)
    np.testing.assert_array_equal(out, np.concatenate([np.asarray(x)] * 2))
    np.testing.assert_array_equal(xf.gather(x, [1], axis=1), np.asarray(x)[:, [1]])
