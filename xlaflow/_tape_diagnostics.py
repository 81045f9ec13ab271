"""Why a GradientTape block cannot be recorded or differentiated, said in the user's terms.

The tape is a compile-time rewrite (gradient_tape.py); its failures surface as a plain
`with`, a JAX refusal to reverse a while_loop, or a nested tape used too late. These
messages name the user's code and what to write instead.
"""

from __future__ import annotations

import linecache

_EAGER = (
    "xf.GradientTape records a block by converting it into a function; the eager `with` "
    "block in {where} cannot be converted: {why}. Put the step in an xf.function:\n"
    "    @xf.function\n"
    "    def train_step(x, y): ...  # the `with xf.GradientTape() as tape:` block goes here\n"
    "or compute gradients functionally: xf.value_and_grad(loss_fn, wrt=model)()")


def not_recorded_eagerly(frame, why):
    """Why the tape could not convert a block entered eagerly in `frame` (see
    _eager_tape_blocks), with the two ways to record it instead."""
    code = frame.f_code
    where = f"{code.co_name!r} ({code.co_filename}, line {frame.f_lineno})"
    return _EAGER.format(where=where, why=why)

NESTED_AFTER = (
    "tape.gradient() of a tape recorded inside another tape's block, called after that "
    "outer block ended, is not supported (tapes of one `with t1, t2:` statement share one "
    "recording only when they have the same watch_accessed_variables): nest the blocks and "
    "call the inner tape's gradient() inside the outer block, or record both losses on one "
    "GradientTape(persistent=True)")

# The logs of the tapes recording now: AutoGraph reports each loop it traces that XLA cannot
# differentiate in reverse mode (a while_loop: a tensor test or tensor range bounds).
loop_logs = []
_NO_REVERSE = "Reverse-mode differentiation does not work for lax.while_loop"


def note_unbounded_loop(where):
    """Called by AutoGraph where it traces a lax.while_loop (`where`: file and line)."""
    for log in loop_logs:
        log.append(where)


def explained(pullback, loops):
    """`pullback`, whose while-loop refusal names the loops in the block and what to write."""
    def pull(cotangents):
        try:
            return pullback(cotangents)
        except ValueError as exc:
            if _NO_REVERSE not in str(exc):
                raise
            places = ", ".join(dict.fromkeys(loops)) or "a lax.while_loop in the block"
            raise ValueError(
                f"xf.GradientTape: the recorded block runs loops whose trip count a tensor "
                f"decides ({places}), and XLA cannot differentiate those in reverse mode "
                "(TF with jit_compile=True needs maximum_iterations for the same reason). "
                "Loop over a Python range instead (`for i in range(N)` with an int N becomes "
                "a lax.scan) and stop updating with an `if`, or differentiate in forward "
                "mode (jax.jvp).") from exc
    return pull


def not_recorded(frame):
    """Why a `with tape:` block ran as a plain `with` (unconverted code), for the error.
    `frame` runs the block inside a trace: the function holding it was not converted, and
    its code says why where it can."""
    from xlaflow.autograph.operators.calls import is_user_code
    code = frame.f_code
    where = f"{code.co_name!r} ({code.co_filename}, line {frame.f_lineno})"
    if code.co_filename.startswith("<") and not linecache.getlines(code.co_filename):
        why = "its source cannot be read (code made by exec() or compile() from a string)"
        fix = "define the step in a file or a notebook cell"
    elif not is_user_code(code):
        why = "it is library code (installed with Python or a package), called as is"
        fix = "record the tape in your own code"
    else:
        why = ("it was opted out (xf.function(autograph=False), @xf.autograph."
               "do_not_convert, or XLAFLOW_AUTOGRAPH=0)")
        fix = "let AutoGraph convert it"
    return (f"xf.GradientTape: the `with` block in {where} runs inside an xf.function, but "
            f"AutoGraph did not convert {code.co_name!r}: {why}. The tape records blocks "
            f"of converted code only: {fix}, or compute gradients functionally: "
            "xf.value_and_grad(loss_fn, wrt=model)()")
