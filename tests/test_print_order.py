"""xf.print inside compiled code prints in program order (an ordered effect, as tf.print),
to stderr by default (tf.print's stream), and still compiles in programs over several
devices, where XLA refuses ordered effects (xlaflow/ops.py `_in_program_order`)."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
from jax import lax

import xlaflow as xf


def _steps(x):
    xf.print("a", x)
    xf.print("b")  # no tensor operand: once free to run first
    xf.print("c", x * 2)
    return x


def test_prints_run_in_program_order_under_transformations(capsys):
    expect = "a 1.0\nb\nc 2.0\n"
    xf.function(_steps)(jnp.float32(1.0))
    jax.effects_barrier()
    assert capsys.readouterr().err == expect
    # under the transformations a TF program's prints sit in: their own order each time
    xf.function(lambda x: lax.cond(x > 0, _steps, lambda v: v, x))(jnp.float32(1.0))
    xf.function(lambda x: lax.scan(lambda c, _: (_steps(c), None), x, None, length=2)[0])(
        jnp.float32(1.0))
    xf.function(jax.grad(lambda x: _steps(x) * 3.0))(jnp.float32(1.0))
    xf.function(jax.checkpoint(_steps))(jnp.float32(1.0))
    jax.effects_barrier()
    assert capsys.readouterr().err == expect * 5
    xf.function(jax.vmap(_steps))(jnp.float32([1.0, 2.0]))
    jax.effects_barrier()
    # vmap calls back once per element, each print's calls before the next print's
    assert capsys.readouterr().err.splitlines() == ["a 1.0", "a 2.0", "b", "c 2.0", "c 4.0"]


def test_xf_print_writes_to_stderr_and_python_print_to_stdout(capsys):
    @xf.function
    def f(x):
        print("python", x)
        xf.print("tf", x)
        return x

    f(jnp.int32(3))
    jax.effects_barrier()
    out = capsys.readouterr()
    assert (out.out, out.err) == ("python 3\n", "tf 3\n")


def test_a_print_in_a_program_over_two_devices_still_compiles_and_prints():
    script = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        import xlaflow as xf
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        assert jax.device_count() == 2
        mesh = Mesh(np.array(jax.devices()), ("d",))
        x = jax.device_put(jnp.arange(4.0), NamedSharding(mesh, P("d")))

        def step(x):
            xf.print("sum", jnp.sum(x))
            xf.print("constant")
            return x * 2

        print(np.asarray(jax.jit(step)(x)).tolist())
        print(np.asarray(xf.function(step)(x)).tolist())
        xf.function(step)(jnp.arange(4.0))  # one device in a two-device process: ordered
        jax.effects_barrier()
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu", "XLAFLOW_COMPILATION_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[0.0, 2.0, 4.0, 6.0]"] * 2
    printed = [line for line in done.stderr.splitlines() if line in {"sum 6.0", "constant"}]
    assert sorted(printed) == ["constant"] * 3 + ["sum 6.0"] * 3


class _Writes:
    """A stream that records each write: a print must be one, whole line."""

    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append(text)

    def flush(self):
        pass


def test_each_print_is_one_write_so_concurrent_prints_keep_whole_lines():
    # callbacks of a program over several devices, or of calls from several threads, run
    # concurrently: print()'s separate writes of each part interleaved as "replicareplica"
    stream = _Writes()
    xf.function(lambda x: xf.print("value", x, [x, 2], output_stream=stream, sep="|"))(
        jnp.float32(1.0))
    jax.effects_barrier()
    xf.print("eager", jnp.int32(3), output_stream=stream, end="!")
    assert stream.writes == ["value|1.0|[1.0, 2]\n", "eager 3!"]


def _run_on_two_devices(script, tmp_path):
    """Run `script` from a file (AutoGraph reads its source) in a two-device process."""
    path = tmp_path / "program.py"
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu", "XLAFLOW_COMPILATION_CACHE_DIR": "off"}
    return subprocess.run([sys.executable, str(path)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_prints_inside_strategy_run_and_tape_blocks_on_two_devices(tmp_path):
    # strategy.run and GradientTape blocks trace under an override context on top of
    # xf.function's: a print there once asked it for the arguments it does not hold
    done = _run_on_two_devices("""
        import jax, jax.numpy as jnp
        import xlaflow as xf
        strategy = xf.distribute.MirroredStrategy()

        def replica(x):
            xf.print("replica", x)
            return x * 2

        @xf.function
        def step(x):
            r = strategy.run(replica, (x,))
            return strategy.reduce("SUM", r, axis=None)

        @xf.function
        def slope(x):
            with xf.GradientTape() as tape:
                tape.watch(x)
                y = x * x
                xf.print("tape", y)
            return tape.gradient(y, x)

        print(float(step(jnp.float32(1.0))), float(slope(jnp.float32(3.0))))
        print(strategy.run(replica, (jnp.float32(2.0),)).values)
        jax.effects_barrier()
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["4.0 6.0", "(Array(4., dtype=float32), "
                                        "Array(4., dtype=float32))"]
    printed = [line for line in done.stderr.splitlines() if line.startswith(("replica", "tape"))]
    assert sorted(printed) == ["replica 1.0"] * 2 + ["replica 2.0"] * 2 + ["tape 9.0"]


def test_prints_in_programs_whose_shardings_span_devices_only_after_them(tmp_path):
    # the inputs lie on one device, but out_shardings (a caller's jax.jit) or a sharding
    # constraint after the print spread the program over two: XLA refused the ordered
    # print ("ordered effects are not supported for more than 1 device")
    done = _run_on_two_devices("""
        import jax, jax.numpy as jnp, numpy as np
        import xlaflow as xf
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        mesh = Mesh(np.array(jax.devices()), ("d",))
        spread = NamedSharding(mesh, P("d"))

        def step(x):
            xf.print("sum", jnp.sum(x))
            return x * 2

        def step_then_spread(x):
            return jax.lax.with_sharding_constraint(step(x), spread)

        x = jnp.arange(4.0)
        for run in (jax.jit(step, out_shardings=spread),
                    jax.jit(xf.function(step), out_shardings=spread),
                    xf.function(step_then_spread)):
            print(np.asarray(run(x)).tolist())
        one_device = xf.function(step)
        print("ordered on one device:", "token" in one_device.lower(x).as_text())
        jax.effects_barrier()
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[0.0, 2.0, 4.0, 6.0]"] * 3 + [
        "ordered on one device: True"]
    assert [line for line in done.stderr.splitlines() if line == "sum 6.0"] == ["sum 6.0"] * 3
