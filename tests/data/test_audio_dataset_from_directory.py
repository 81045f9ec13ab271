"""keras.utils.audio_dataset_from_directory on WAV files the tests write with Python's
`wave` module: the listing and labels from os.walk, Keras 2's seeded split recomputed with
RandomState, samples as the files' int16 values / 32768."""

import io
import os
import wave

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

audio_dataset = keras.utils.audio_dataset_from_directory


def _write_wav(path, samples, rate=16000):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.asarray(samples, "<i2").tobytes())
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def wav_dir(tmp_path):
    """Three classes (made out of order), clips of 5..9 samples holding known values, one
    nested, and a file that is not a .wav (skipped). Returns (root, {path: samples})."""
    root = tmp_path / "commands"
    clips = {}
    for c, name in enumerate(["yes", "no", "go"]):
        (root / name / "more").mkdir(parents=True)
        for k in range(3):
            samples = np.arange(5 + (k + c) % 5) * 100 * (c + 1) + k
            path = root / name / ("more" if k == 2 else "") / f"clip{k}.wav"
            _write_wav(path, samples)
            clips[str(path)] = samples
        (root / name / "README.txt").write_text("not audio")
    return root, clips


def _listing(root):
    paths, labels = [], []
    classes = sorted(os.listdir(root))
    for index, name in enumerate(classes):
        for dirpath, _, names in sorted(os.walk(root / name)):
            for f in sorted(names):
                if f.endswith(".wav"):
                    paths.append(os.path.join(dirpath, f))
                    labels.append(index)
    return paths, labels


def test_fixed_length_clips_with_inferred_labels(wav_dir, capsys):
    root, clips = wav_dir
    ds = audio_dataset(root, batch_size=4, shuffle=False, output_sequence_length=7)
    assert capsys.readouterr().out == "Found 9 files belonging to 3 classes.\n"
    assert ds.class_names == ["go", "no", "yes"]
    paths, labels = _listing(root)
    assert ds.file_paths == paths
    audio = np.concatenate([a.numpy() for a, _ in ds])
    got_labels = np.concatenate([y.numpy() for _, y in ds])
    assert audio.dtype == np.float32 and audio.shape == (9, 7, 1)
    np.testing.assert_array_equal(got_labels, labels)
    for row, path in zip(audio, paths):
        want = np.zeros(7)
        kept = clips[path][:7]
        want[:len(kept)] = kept / 32768.0  # cut or zero-padded to 7, as decode_wav's
        np.testing.assert_array_equal(row[:, 0], want)


def test_without_a_length_each_batch_is_padded_to_its_longest_clip(wav_dir):
    root, clips = wav_dir
    ds = audio_dataset(root, batch_size=2, shuffle=False)
    paths, _ = _listing(root)
    start = 0
    for audio, _ in ds:
        batch_paths = paths[start:start + len(audio)]
        longest = max(len(clips[p]) for p in batch_paths)
        assert audio.shape == (len(batch_paths), longest, 1)
        for row, path in zip(audio.numpy(), batch_paths):
            n = len(clips[path])
            np.testing.assert_array_equal(row[:n, 0], clips[path] / 32768.0)
            assert not row[n:].any()
        start += len(audio)
    assert start == 9


def test_subset_both_is_keras_2s_seeded_split(wav_dir, capsys):
    root, _ = wav_dir
    train, val = audio_dataset(root, batch_size=None, output_sequence_length=4,
                               validation_split=0.34, subset="both", seed=7)
    paths, _ = _listing(root)
    order = np.arange(9)
    np.random.RandomState(7).shuffle(order)  # Keras 2's file shuffle with the seed
    shuffled = [paths[i] for i in order]
    assert val.file_paths == shuffled[-3:]  # int(0.34 * 9) = 3 files
    assert sorted(train.file_paths) == sorted(shuffled[:-3])
    assert len(list(val)) == 3 and len(list(train)) == 6
    assert "Using 6 files for training.\nUsing 3 files for validation.\n" in \
        capsys.readouterr().out


def test_categorical_labels_and_no_labels(wav_dir):
    root, _ = wav_dir
    ds = audio_dataset(root, label_mode="categorical", batch_size=9, shuffle=False,
                       output_sequence_length=3)
    _, labels = next(iter(ds))
    np.testing.assert_array_equal(labels.numpy(), np.eye(3)[_listing(root)[1]])
    only_audio = audio_dataset(root, labels=None, batch_size=9, shuffle=False,
                               output_sequence_length=3)
    assert next(iter(only_audio)).shape == (9, 3, 1)


def test_ragged_batches_keep_each_clips_length_as_keras_2(wav_dir):
    # Keras 2.12 maps RaggedTensor.from_tensor over each [samples, 1] clip, then batches:
    # a RaggedTensor [batch, (samples), (channels)] of ragged_rank 2
    root, clips = wav_dir
    ds = audio_dataset(root, batch_size=4, shuffle=False, ragged=True)
    spec = ds.element_spec[0]
    assert isinstance(spec, xf.RaggedTensorSpec) and spec.ragged_rank == 2
    # (TF gives [None, None, None]; xf.data's map reads the clip length off its first
    # output, so only the batch and channel dimensions are checked here)
    assert spec.dtype == xf.float32 and spec.shape[0] is None and spec.shape[2] is None
    paths, labels = _listing(root)
    got, got_labels = [], []
    for audio, label in ds:
        assert isinstance(audio, xf.RaggedTensor) and audio.ragged_rank == 2
        assert audio.flat_values.dtype == np.float32
        got += audio.to_list()
        got_labels += label.numpy().tolist()
    assert got_labels == labels
    assert got == [[[v / 32768.0] for v in clips[p].tolist()] for p in paths]
    assert len({len(clip) for clip in got}) > 1  # the clips' lengths do differ
    one = next(iter(audio_dataset(root, batch_size=None, shuffle=False, ragged=True,
                                  labels=None)))
    assert isinstance(one, xf.RaggedTensor) and one.ragged_rank == 1
    assert one.to_list() == [[v / 32768.0] for v in clips[paths[0]].tolist()]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(ragged=True, output_sequence_length=4), ValueError,
     r"`ragged` and `output_sequence_length` cannot both be set"),
    (dict(sampling_rate=0), ValueError, r"`sampling_rate` must be a positive integer or "
                                        r"None, received sampling_rate=0"),
    (dict(sampling_rate=8000), NotImplementedError, r"resample the files beforehand"),
    (dict(output_sequence_length=0), ValueError, r"output_sequence_length=0"),
    (dict(validation_split=0.2, subset="both"), ValueError, r"give a `seed`"),
])
def test_bad_arguments_are_refused_before_listing(wav_dir, capsys, kwargs, error, match):
    with pytest.raises(error, match=match):
        audio_dataset(wav_dir[0], **kwargs)
    assert capsys.readouterr().out == ""  # nothing listed


def test_binary_labels_need_two_classes(wav_dir):
    with pytest.raises(ValueError, match=r'label_mode="binary" needs exactly 2 classes, found '
                                         r"class_names=\['go', 'no', 'yes'\]"):
        audio_dataset(wav_dir[0], label_mode="binary")


def test_an_undecodable_wav_names_its_file(tmp_path):
    (tmp_path / "a").mkdir()
    bad = tmp_path / "a" / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    ds = audio_dataset(tmp_path, batch_size=1, output_sequence_length=4)
    with pytest.raises(ValueError, match=r"cannot decode the WAV file .*bad\.wav"):
        list(ds)
