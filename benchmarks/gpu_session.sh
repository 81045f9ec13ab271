#!/usr/bin/env bash
# One lease of a GPU machine (the device tool): the benchmarks, then the suite, in one call
# from the repository root there. That machine has JAX with CUDA but no package registry:
# the test extra's packages it lacks travel as wheels in .whl/ (ignored by git), fetched
# here once with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#     uvicorn httptools orjson tensorboardX tritonclient python-rapidjson geventhttpclient \
#     gevent zope.event zope.interface greenlet brotli grain array_record portpicker graphviz \
#     google-crc32c
# (the versions in this venv; add --platform tags until each is found). Logs go to $OUT,
# and the end of the output is a summary. BENCH_S: name:seconds pairs; PYTEST_S: the
# suite's time limit (0: no suite); WORKERS; PYTEST_ARGS: more pytest arguments or paths.
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
# No preallocation: a dozen test workers share the GPU.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} XLA_PYTHON_CLIENT_PREALLOCATE=false \
  PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, numpy, optax, orbax.checkpoint, xlaflow; print('jax', jax.__version__, \
'numpy', numpy.__version__, 'optax', optax.__version__, jax.devices())" || exit 1
BENCH_S=${BENCH_S:-fit_step_profile:60,autograph_bench:100,tensor_array_bench:40,bench_function_overhead:20,fit_bench:90}
for item in ${BENCH_S//,/ }; do
  name=${item%%:*}; limit=${item##*:}
  echo "== $name (limit ${limit}s)"
  timeout "$limit" python3 "benchmarks/$name.py" > "$OUT/$name.log" 2>&1
  echo "rc=$?"; tail -n 25 "$OUT/$name.log"
done
if [ "${PYTEST_S:-0}" -gt 0 ]; then
  # the image's pytest-benchmark warns under xdist, which filterwarnings=error fails;
  # its notebooks test needs a Jupyter kernel the image lacks
  timeout "$PYTEST_S" python3 -m pytest -n "${WORKERS:-12}" -v -p no:cacheprovider \
    -p no:benchmark --ignore=tests/test_notebooks.py ${PYTEST_ARGS:-} > "$OUT/pytest.log" 2>&1
  echo "pytest rc=$?"
  grep -c " PASSED" "$OUT/pytest.log"; grep -E " (FAILED|ERROR)" "$OUT/pytest.log" | head -40
  tail -n 5 "$OUT/pytest.log"
fi
