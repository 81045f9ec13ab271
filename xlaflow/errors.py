"""tf.errors: the exception types TF raises for failed run-time checks (tf.debugging)."""

from __future__ import annotations


class OpError(Exception):
    """A TF operation failed; `message` is its text (TF's base class of op errors)."""

    def __init__(self, node_def=None, op=None, message="", *args):
        super().__init__(message)
        self.message = message
        self.node_def, self.op = node_def, op

    def __str__(self):
        return self.message


class InvalidArgumentError(OpError):
    """An operation received an invalid argument (a tf.debugging assertion that failed)."""

    def __init__(self, node_def=None, op=None, message="", *args):
        super().__init__(node_def, op, message, *args)


class FailedPreconditionError(OpError):
    """The state of the system does not allow the operation (as TF: a dataset whose
    element count differs from its `assert_cardinality`)."""

    def __init__(self, node_def=None, op=None, message="", *args):
        super().__init__(node_def, op, message, *args)


class DataLossError(OpError):
    """Unrecoverable data loss or corruption (as TF: a TFRecord whose checksum or length
    does not hold)."""

    def __init__(self, node_def=None, op=None, message="", *args):
        super().__init__(node_def, op, message, *args)


class AlreadyExistsError(OpError, FileExistsError):
    """An entity to be created already exists (as TF: tf.io.gfile.rename or copy onto an
    existing file without overwrite=True). Also a FileExistsError, for Python's handlers."""

    def __init__(self, node_def=None, op=None, message="", *args):
        OpError.__init__(self, node_def, op, message, *args)


class NotFoundError(OpError, FileNotFoundError):
    """A requested file or directory was not found (as TF: tf.io.read_file or a
    TFRecordDataset of a missing file). Also a FileNotFoundError, so Python's own
    handlers catch it."""

    def __init__(self, node_def=None, op=None, message="", *args):
        OpError.__init__(self, node_def, op, message, *args)


class UnavailableError(OpError):
    """The service is not available (as TF: tf.profiler.experimental.stop() when no
    profiler is running)."""

    def __init__(self, node_def=None, op=None, message="", *args):
        super().__init__(node_def, op, message, *args)
