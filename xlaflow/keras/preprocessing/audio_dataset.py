"""keras.utils.audio_dataset_from_directory (Keras 2.12): a directory of .wav files, one
subdirectory per class, as an xf.data.Dataset of float32 waveforms and their labels.

Files are decoded on the host by xf.audio.decode_wav (16-bit PCM, as TF's) in the
dataset's parallel map; the directory walk, labels and split are image/text's own."""

from __future__ import annotations

import numbers

from xlaflow.keras.preprocessing import directory_index as index

_CALLER = "audio_dataset_from_directory"
ALLOWED_FORMATS = (".wav",)


def _loader(output_sequence_length, ragged=False):
    def load(path):
        from xlaflow.audio import decode_wav
        from xlaflow.errors import InvalidArgumentError
        path = str(path)
        with open(path, "rb") as f:
            contents = f.read()
        try:
            audio, _ = decode_wav(contents, desired_samples=output_sequence_length or -1)
        except InvalidArgumentError as error:  # the file's own fault, named with its path
            raise ValueError(f"{_CALLER}: cannot decode the WAV file {path!r}: "
                             f"{error}") from error
        if ragged:  # Keras' RaggedTensor.from_tensor: rows of `channels` values each
            from xlaflow.ragged_tensor import RaggedTensor
            return RaggedTensor.from_tensor(audio)
        return audio
    return load


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False):
    """A Dataset of `(audio, labels)` batches from `directory` (Keras 2.12's function).

    labels="inferred": each subdirectory is a class (sorted names, or `class_names`' order),
    its .wav files at any depth the examples; a list gives one integer label per file in
    sorted path order; None yields audio only. label_mode: "int", "categorical", "binary"
    or None, as image_dataset_from_directory's. Audio is float32 (batch, samples, channels)
    in [-1, 1): cut or zero-padded to `output_sequence_length`, or, when None, each batch
    zero-padded to its longest clip (Keras' padded_batch). ragged=True keeps each clip's own
    length, as Keras 2.12: every clip is RaggedTensor.from_tensor(audio) (ragged_rank 1,
    rows of `channels` values), so a batch is a RaggedTensor [batch, None, None] of
    ragged_rank 2 (with batch_size=None, each element is one clip's [samples, None]).

    The file list is shuffled with `seed` (drawn when None), then split: the last
    int(validation_split * n) files are the validation subset. subset="both" returns
    [training, validation]. Each dataset has `class_names` and `file_paths`.
    """
    labels, label_mode, batch_size, seed = index.check_common(
        _CALLER, directory, labels, label_mode, class_names, batch_size, shuffle, seed,
        validation_split, subset, follow_links)
    output_sequence_length = index.check_optional_positive_int(
        _CALLER, "output_sequence_length", output_sequence_length)
    ragged = index.check_flag(_CALLER, "ragged", ragged)
    if ragged and output_sequence_length is not None:
        raise ValueError(f"{_CALLER}: `ragged` and `output_sequence_length` cannot both be "
                         f"set; received ragged=True, "
                         f"output_sequence_length={output_sequence_length}")
    if sampling_rate is not None:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, numbers.Integral) \
                or sampling_rate <= 0:
            raise ValueError(f"{_CALLER}: `sampling_rate` must be a positive integer or None, "
                             f"received sampling_rate={sampling_rate!r}")
        raise NotImplementedError(f"{_CALLER}: `sampling_rate` (Keras resamples with "
                                  "tensorflow_io) is not provided; resample the files "
                                  "beforehand (e.g. scipy.signal.resample_poly) and leave "
                                  "sampling_rate=None")

    paths, labels, class_names = index.index_directory(
        _CALLER, directory, labels, ALLOWED_FORMATS, class_names, bool(shuffle), seed,
        follow_links, label_mode)

    return index.build(_CALLER, "audio files", ALLOWED_FORMATS, directory, paths, labels,
                       class_names, label_mode, validation_split, subset, batch_size,
                       bool(shuffle), seed, _loader(output_sequence_length, ragged),
                       padded=output_sequence_length is None and not ragged)
