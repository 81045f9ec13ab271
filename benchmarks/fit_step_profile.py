"""Where fit's per-step host time goes, on whatever device runs it (fit_bench's MLP case).

fit_bench.py measures fit at 0.70x of a hand-written jit step loop on an H100 but ~1.0x on
CPU: a launch-bound step there pays ~100 µs more host time per step. This script splits
that cost, all in one run (well under 90 s on a GPU; FIT_PROFILE_SAMPLES shrinks it):

1. per-step wall time (median of interleaved epochs) of the hand-written loop (host and
   device-resident batches), fit (arrays sliced per step on the host, or kept on the
   device with fit_arrays_on_device, each unshuffled and shuffled; an xf.data Dataset
   with the device prefetch thread on and off), xlaflow's compiled step in a plain loop, and the GradientTape loop;
2. host dispatch time per step: N enqueues with arguments already on the device, then
   one block, for the hand-written step, the full xf.function call, and its jitted
   program called directly, as compiled and with the outputs before the new Variable
   values (xf.function's order until that made XLA add copies: see `programs_of`);
3. the programs' anatomy: argument/result leaves, donated leaves, StableHLO op counts, and
   the compiled HLO's entry instructions (fusions, custom-calls, copies: the kernels);
4. a cProfile of 200 steps of `model.fit(verbose=0)`, top 25 by tottime ($OUT/ if set).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("XLAFLOW_COMPILATION_CACHE_DIR", "off")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # fit_bench, by import

import collections
import cProfile
import io
import pstats
import re
import statistics
import time

import fit_bench as bench
import jax

import xlaflow as xf

BATCH = 32
SAMPLES = int(os.environ.get("FIT_PROFILE_SAMPLES", "8192"))
ROUNDS = int(os.environ.get("FIT_PROFILE_ROUNDS", "6"))  # the first compiles: not counted
DISPATCH_CALLS = int(os.environ.get("FIT_PROFILE_DISPATCH", "500"))
PROFILE_STEPS = 200


# -- 1. per-step wall time ---------------------------------------------------------------

def compiled_fit_model():
    model = bench.build_model("mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def fit_arrays(x, y, on_device="off", shuffle=False):
    """fit as fit_bench runs it: verbose=0, no callbacks (fit adds only its History). With
    on_device 'on' the arrays stay on the device and each step gathers its batch
    (xf.config fit_arrays_on_device; 'off' copies each batch's slices per step)."""
    model = compiled_fit_model()

    def run():
        with xf.config.override(fit_arrays_on_device=on_device):
            model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0, shuffle=shuffle)
    return run


def fit_dataset(x, y, prefetch):
    """fit on an xf.data Dataset, the only input that gets the device prefetch thread
    (array input is sliced on fit's own thread, whatever the device_prefetch flag)."""
    model = compiled_fit_model()
    dataset = xf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)

    def run():
        with xf.config.override(device_prefetch=prefetch):
            model.fit(dataset, epochs=1, verbose=0)
    return run


def built_fit_model(x, y):
    """A compiled model fitted on one batch: built, its train step traced."""
    model = compiled_fit_model()
    model.fit(x[:BATCH], y[:BATCH], epochs=1, batch_size=BATCH, verbose=0)
    return model


def xlaflow_step_loop(x, y, on_device):
    """xlaflow's compiled train step called in a plain loop: fit's Python taken away."""
    model = built_fit_model(x, y)
    batches = host_batches(x, y, on_device)
    step = model.trainer.raw_train_step

    def epoch():
        for xb, yb in batches:
            logs = step(xb, yb, None)
        jax.block_until_ready(logs)
    return epoch


def host_batches(x, y, on_device):
    batches = [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH)]
    return jax.device_put(batches) if on_device else batches


def hand_loop_device(x, y):
    """fit_bench's hand-written loop, fed batches already on the device."""
    params = bench.init_params(jax.random.PRNGKey(0), "mlp")
    state = [(params, bench.tx.init(params), jax.numpy.zeros(3))]
    step = jax.jit(bench.train_step, donate_argnums=0)
    batches = host_batches(x, y, on_device=True)

    def epoch():
        for xb, yb in batches:
            state[0] = step(state[0], xb, yb)
        jax.block_until_ready(state[0])
    return epoch


def wall_times(x, y):
    steps = -(-len(x) // BATCH)
    runners = {
        "hand-written jit step loop (host batches)": bench.hand_loop(x, y, "mlp", BATCH),
        "hand-written jit step loop (device batches)": hand_loop_device(x, y),
        "xlaflow fit, arrays sliced per step (host)": fit_arrays(x, y),
        "xlaflow fit, arrays kept on the device": fit_arrays(x, y, "on"),
        "xlaflow fit, arrays, shuffled": fit_arrays(x, y, "off", True),
        "xlaflow fit, arrays kept on the device, shuffled": fit_arrays(x, y, "on", True),
        "xlaflow fit, Dataset, device prefetch on": fit_dataset(x, y, "on"),
        "xlaflow fit, Dataset, device prefetch off": fit_dataset(x, y, "off"),
        "xlaflow compiled step loop (host batches)": xlaflow_step_loop(x, y, False),
        "xlaflow compiled step loop (device batches)": xlaflow_step_loop(x, y, True),
        "xlaflow GradientTape custom loop": bench.xlaflow_custom_loop(x, y, "mlp", BATCH),
    }
    times = {name: [] for name in runners}
    for index in range(ROUNDS):  # interleaved: machine noise hits every contender
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            if index:
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["hand-written jit step loop (host batches)"]) / steps
    print(f"\n1. per-step wall time ({steps} steps/epoch, median of {ROUNDS - 1} epochs)")
    for name, t in times.items():
        per_step = statistics.median(t) / steps
        print(f"  {name:48s} {per_step * 1e6:8.1f} µs/step  {per_step / base:5.2f}x loop")


# -- 2. host dispatch per step -----------------------------------------------------------

def dispatch_time(call, calls):
    """(µs per enqueue, µs per step until the last result is ready) for `calls` calls of
    `call()`, which returns what to wait on; one warm-up call first."""
    jax.block_until_ready(call())
    start = time.perf_counter()
    for _ in range(calls):
        out = call()
    enqueued = time.perf_counter()
    jax.block_until_ready(out)
    done = time.perf_counter()
    return (enqueued - start) / calls * 1e6, (done - start) / calls * 1e6


def xlaflow_entry(function, *args):
    """The cache entry (lifted Variables, jitted program) a call with `args` runs."""
    function(*args)
    entry = function._cache[len(args)]
    if entry.donated_leaves is not None or entry.direct is not None:
        raise RuntimeError("expected a donating program with Variables (fit's own)")
    return entry


class Chained:
    """Calls of an xlaflow program that feed each call's new Variable values (a list, as
    xf.function passes them) to the next, without xf.function's Python around it. The
    Variables' values are read at the first call; `finish()` writes the last ones back
    (the donated old buffers are gone)."""

    def __init__(self, jitted, function, entry, args, values_first):
        self.jitted, self.function, self.entry = jitted, function, entry
        self.args, self.values_first, self.values = args, values_first, None

    def __call__(self):
        if self.values is None:
            self.values = self.function._values(self.entry)
        result = self.jitted(self.values, self.args)
        new, out = result if self.values_first else result[::-1]
        self.values = list(new)
        return out

    def finish(self):
        for variable, value in zip(self.entry.assigned, self.values):
            variable._value = value


def programs_of(function, entry):
    """{order: (jitted program, whether it returns the new Variable values first)}: the
    program as xf.function compiles it (new values, then outputs) and the same program
    with the outputs first, as xf.function ordered them before: jax.jit then aliased
    donated Variable buffers to same-shaped outputs, and XLA added copies."""
    pure = function._pure(entry, eager_init=False)

    def outputs_first(values, *parts):
        new, out = pure(values, *parts)
        if len(new) != len(entry.assigned):
            raise RuntimeError("xf.function's program no longer returns (new values, "
                               "outputs): update this script")
        return out, new

    outputs_first.__name__ = pure.__name__
    return {"as compiled": (entry.jitted, True),
            "outputs first (old order)": (jax.jit(
                outputs_first, donate_argnums=function._donated_args(entry)), False)}


def dispatch(x, y, programs):
    xd, yd = jax.device_put((x[:BATCH], y[:BATCH]))
    params = bench.init_params(jax.random.PRNGKey(0), "mlp")
    hand_state = [(params, bench.tx.init(params), jax.numpy.zeros(3))]
    hand = jax.jit(bench.train_step, donate_argnums=0)

    def hand_call():
        hand_state[0] = hand(hand_state[0], xd, yd)
        return hand_state[0]

    rows = {"hand-written jit step": hand_call}
    for label, function in programs.items():
        entry = xlaflow_entry(function, xd, yd)
        rows[f"{label}: the full xf.function call"] = lambda f=function: f(xd, yd)
        for order, (jitted, values_first) in programs_of(function, entry).items():
            rows[f"{label}: its jax.jit program, {order}"] = Chained(
                jitted, function, entry, (xd, yd), values_first)
    print(f"\n2. host dispatch per step, arguments on the device ({DISPATCH_CALLS} calls, "
          "then one block)")
    for name, call in rows.items():
        enqueue, total = dispatch_time(call, DISPATCH_CALLS)
        if isinstance(call, Chained):
            call.finish()
        print(f"  {name:66s} enqueue {enqueue:7.1f} µs   until ready {total:7.1f} µs")


# -- 3. program anatomy ------------------------------------------------------------------

_STABLEHLO_OP = re.compile(r"\b(stablehlo|chlo|func|mhlo)\.([a-z_]+)")
_HLO_OPCODE = re.compile(r"\b([a-z][a-z0-9-]*)\(")
_NOT_KERNELS = {"parameter", "tuple", "get-tuple-element", "constant", "bitcast"}


def stablehlo_ops(text):
    return collections.Counter(f"{d}.{op}" for d, op in _STABLEHLO_OP.findall(text)
                               if op not in ("func", "return"))


def entry_instructions(hlo):
    """Opcode counts of the compiled module's ENTRY computation: each fusion, custom-call,
    copy... there is a kernel (thunk) the host launches per step."""
    body = hlo[hlo.index("\nENTRY"):]
    body = body[:body.index("\n}")]
    counts = collections.Counter()
    for line in body.splitlines()[1:]:
        _, _, rhs = line.partition(" = ")
        match = _HLO_OPCODE.search(rhs)
        if match:
            counts[match.group(1)] += 1
    return counts


def anatomy(lowered):
    args = jax.tree_util.tree_leaves(lowered.args_info)
    compiled = lowered.compile()
    entry = entry_instructions(compiled.as_text())
    return {"inputs": len(args), "donated": sum(a.donated for a in args),
            "outputs": len(jax.tree_util.tree_leaves(lowered.out_info)),
            "entry parameters": entry["parameter"], "stablehlo": stablehlo_ops(lowered.as_text()),
            "kernels": {k: n for k, n in entry.items() if k not in _NOT_KERNELS}}


def anatomies(x, y, programs):
    xd, yd = jax.device_put((x[:BATCH], y[:BATCH]))
    params = bench.init_params(jax.random.PRNGKey(0), "mlp")
    state = (params, bench.tx.init(params), jax.numpy.zeros(3))
    found = {"hand-written": anatomy(
        jax.jit(bench.train_step, donate_argnums=0).lower(state, xd, yd))}
    for label, function in programs.items():
        entry = xlaflow_entry(function, xd, yd)
        for order, (jitted, _) in programs_of(function, entry).items():
            short = "" if order == "as compiled" else ", old order"
            found[label + short] = anatomy(jitted.lower(function._values(entry), (xd, yd)))
    names = list(found)
    print(f"\n3. program anatomy ({jax.default_backend()} compile)")
    print(f"  {'':30s}" + "".join(f"{n[:22]:>23s}" for n in names))
    for key in ("inputs", "donated", "outputs", "entry parameters"):
        print(f"  {key + ' (leaves)':30s}" + "".join(f"{found[n][key]:23d}" for n in names))
    for key, title in (("stablehlo", "StableHLO ops"), ("kernels", "compiled ENTRY kernels")):
        totals = [sum(found[n][key].values()) for n in names]
        print(f"  {title + ', total':30s}" + "".join(f"{t:23d}" for t in totals))
        ops = collections.Counter()
        for n in names:
            ops.update(found[n][key])
        for op, _ in ops.most_common(14 if key == "stablehlo" else 10):
            print(f"    {op:28s}" + "".join(f"{found[n][key].get(op, 0):23d}" for n in names))


# -- 4. cProfile of fit ------------------------------------------------------------------

def profile_fit(x, y):
    steps = min(PROFILE_STEPS, len(x) // BATCH)
    xs, ys = x[:steps * BATCH], y[:steps * BATCH]
    model = compiled_fit_model()
    model.fit(xs, ys, epochs=1, batch_size=BATCH, verbose=0, shuffle=False)  # compiles
    profiler = cProfile.Profile()
    profiler.enable()
    model.fit(xs, ys, epochs=1, batch_size=BATCH, verbose=0, shuffle=False)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    report = text.getvalue()
    out = os.environ.get("OUT")
    print(f"\n4. cProfile of fit, {steps} steps (verbose=0), top 25 by tottime")
    if out:
        path = os.path.join(out, "fit_cprofile.txt")
        with open(path, "w") as f:
            f.write(report)
        print(f"  written to {path}; the top 12:")
    lines = report.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    for line in lines[head - 3:head + 13]:
        print("  " + line[:150])


def tape_step_function(x, y):
    """fit_bench's GradientTape loop's xf.function (its closure), for sections 2 and 3."""
    epoch = bench.xlaflow_custom_loop(x, y, "mlp", BATCH)
    return epoch.__closure__[epoch.__code__.co_freevars.index("train_step")].cell_contents


def main():
    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({jax.default_backend()}), jax {jax.__version__}; "
          f"MLP batch {BATCH}, {SAMPLES} samples")
    x, y = bench.data(SAMPLES)
    started = time.perf_counter()
    wall_times(x, y)
    programs = {"xlaflow fit step": built_fit_model(x, y).trainer._compiled_train_step,
                "GradientTape step": tape_step_function(x, y)}
    dispatch(x, y, programs)
    anatomies(x, y, programs)
    profile_fit(x, y)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
