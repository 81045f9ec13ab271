"""Host callbacks in an exported signature, which jax.export cannot serialize: xf.print is
left out with a logged warning; a check, py_function, summary write or the user's own jax
callback fails naming itself and the function, before anything is written."""

import logging
import os

import jax
import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE
from xlaflow._host_callbacks import UnexportableCallbackError

SPEC = [xf.TensorSpec([None, 2], xf.float32, name="x")]


def test_xf_print_is_left_out_with_a_logged_warning_and_outputs_unchanged(
        tmp_path, caplog, capsys):
    scale = xf.Variable(np.float32([2.0, -3.0]))

    @xf.function(input_signature=SPEC)
    def printing(x):
        xf.print("x is", x)
        print("autograph's print too", x)  # converted: xf.print to sys.stdout
        return x * scale

    # the default platforms: with them jax.export failed on the callback's lowering
    with caplog.at_level(logging.WARNING, logger="xlaflow.saving"):
        xf.saved_model.save(None, tmp_path / "e", signatures=printing)
    [record] = [r for r in caplog.records if r.name == "xlaflow.saving"]
    message = record.getMessage()
    assert "'serving_default' (printing) calls xf.print" in message
    assert "jax.export cannot serialize host callbacks" in message
    capsys.readouterr()
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    loaded = xf.saved_model.load(tmp_path / "e").signatures["serving_default"]
    out = loaded(x=x)["output_0"]
    np.testing.assert_allclose(out, x * np.float32([2.0, -3.0]))
    jax.effects_barrier()
    assert capsys.readouterr() == ("", "")  # the served program prints nothing
    with pytest.warns(xf.RelaxedShapeWarning):  # a print keeps its sizes concrete
        printing(x)  # the function itself still prints, once the export is over
    jax.effects_barrier()
    captured = capsys.readouterr()
    assert "x is" in captured.err and "autograph's print too" in captured.out


def _assert_converted(x):
    assert xf.reduce_sum(x) > 0, "sum must be positive"
    return x * 2


def _assert_positive(x):
    xf.debugging.assert_positive(x, message="x must be positive")
    return x


def _py_function(x):
    return xf.py_function(lambda a: np.asarray(a) * 2, [x],
                          xf.TensorSpec([2, 2], xf.float32))


def _summary(x):
    xf.summary.scalar("total", xf.reduce_sum(x), step=0)
    return x


def _jax_debug_print(x):
    jax.debug.print("x={x}", x=x)
    return x + 1


@pytest.mark.parametrize("body, names", [
    (_assert_converted, ["a run-time check (AssertionError: sum must be positive"]),
    (_assert_positive, ["a run-time check raising InvalidArgumentError when it fails",
                        "with zeros for the run-time values", "x must be positive"]),
    (_py_function, ["py_function (func '<lambda>')", "instead of py_function"]),
    (_summary, ["tf.summary.scalar('total')"]),
    (_jax_debug_print, ["calls back into Python while it runs (jax.debug.print)"]),
])
@pytest.mark.parametrize("platforms", [HERE, None], ids=["here", "default"])
def test_other_callbacks_are_refused_by_name_before_any_write(
        tmp_path, body, names, platforms):
    fn = xf.function(body, input_signature=[xf.TensorSpec([2, 2], xf.float32)]
                     if body is _py_function else SPEC)
    writer = xf.summary.create_file_writer(str(tmp_path / "logs"))
    with writer.as_default(), pytest.raises(UnexportableCallbackError) as info:
        xf.saved_model.save(None, tmp_path / "e", signatures=fn, platforms=platforms)
    message = str(info.value)
    assert isinstance(info.value, NotImplementedError)
    assert f"signature 'serving_default' ({body.__name__})" in message
    assert "jax.export cannot serialize" in message
    for name in names:
        assert name in message
    assert sorted(os.listdir(tmp_path)) == ["logs"]  # no export, finished or partial
