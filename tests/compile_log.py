"""The programs JAX compiles inside a block, read from its compile log (jax_log_compiles).

JAX logs every jit cache miss before it looks in the run's persistent compilation cache,
so a test counting programs cannot pass because another test compiled them first."""

import contextlib
import logging

import jax

_LOGGER = "jax._src.interpreters.pxla"  # where JAX logs "Compiling jit(f) with ..."


class _Names(logging.Handler):
    def __init__(self, names):
        super().__init__(logging.WARNING)
        self.names = names

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Compiling "):
            self.names.append(message[len("Compiling "):].split(" with ", 1)[0])


@contextlib.contextmanager
def compiled_programs():
    """Yields a list that collects the names ('jit(_train_step)') of the programs
    compiled until the block ends."""
    names = []
    handler, logger = _Names(names), logging.getLogger(_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    jax.config.update("jax_log_compiles", True)
    try:
        yield names
    finally:
        jax.config.update("jax_log_compiles", False)
        logger.removeHandler(handler)
        logger.setLevel(level)
