"""The twenty-first round of whole TF2 programs (see test_tf2_ports.py): TF's "word2vec"
tutorial (TF 2.12) as written, on a synthetic corpus file in place of shakespeare.txt
("Load NumPy data" is in test_tf2_ports_twentyfirst_b.py). Only the imports change, except
where a line says why.

Oracles: the tutorial's printed values where they are deterministic (26 skip-grams, the
sampling table), pairs enumerated by window distance, the corpus the vocabulary was counted
from, and for fit a corpus whose words have fixed context words, so the trained dot
products must rank each word's true contexts above every other word.
"""

import io
import os
import random
import re
import string

import numpy as np
import pytest

import xlaflow as tf
from xlaflow.keras import layers

SEED = 42
AUTOTUNE = tf.data.AUTOTUNE


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tutorial writes logs/ and its .tsv files here
    seed = int(os.environ.get("XF_PORT_SEED", "0"))
    random.seed(seed)  # skipgrams draws from Python's random, as Keras 2's
    tf.keras.utils.set_random_seed(seed)


# the tutorial's tf.constant(..., dtype="int64"): JAX without x64 keeps 32 bits and warns
int64_warning = pytest.mark.filterwarnings("ignore:Explicitly requested dtype int64")


@int64_warning
def test_vectorize_an_example_sentence_and_negative_sampling(capsys):
    sentence = "The wide road shimmered in the hot sun"
    tokens = list(sentence.lower().split())
    print(len(tokens))

    vocab, index = {}, 1  # start indexing from 1
    vocab['<pad>'] = 0  # add a padding token
    for token in tokens:
        if token not in vocab:
            vocab[token] = index
            index += 1
    vocab_size = len(vocab)
    print(vocab)

    inverse_vocab = {index: token for token, index in vocab.items()}
    print(inverse_vocab)

    example_sequence = [vocab[word] for word in tokens]
    print(example_sequence)

    window_size = 2
    positive_skip_grams, _ = tf.keras.preprocessing.sequence.skipgrams(
        example_sequence,
        vocabulary_size=vocab_size,
        window_size=window_size,
        negative_samples=0)
    print(len(positive_skip_grams))

    for target, context in positive_skip_grams[:5]:
        print(f"({target}, {context}): ({inverse_vocab[target]}, {inverse_vocab[context]})")

    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [  # the tutorial's printed output
        "8",
        "{'<pad>': 0, 'the': 1, 'wide': 2, 'road': 3, 'shimmered': 4, 'in': 5, 'hot': 6, "
        "'sun': 7}",
        "{0: '<pad>', 1: 'the', 2: 'wide', 3: 'road', 4: 'shimmered', 5: 'in', 6: 'hot', "
        "7: 'sun'}",
        "[1, 2, 3, 4, 5, 1, 6, 7]"]
    assert out[4] == "26"
    pairs = sorted((example_sequence[i], example_sequence[j]) for i in range(8)
                   for j in range(8) if 0 < abs(i - j) <= window_size)
    assert sorted(map(tuple, positive_skip_grams)) == pairs
    for line, (target, context) in zip(out[5:], positive_skip_grams[:5]):
        assert line == f"({target}, {context}): ({inverse_vocab[target]}, " \
                       f"{inverse_vocab[context]})"

    # Get target and context words for one positive skip-gram.
    target_word, context_word = positive_skip_grams[0]

    # Set the number of negative samples per positive context.
    num_ns = 4

    context_class = tf.reshape(tf.constant(context_word, dtype="int64"), (1, 1))
    negative_sampling_candidates, _, _ = tf.random.log_uniform_candidate_sampler(
        true_classes=context_class,  # class that should be sampled as 'positive'
        num_true=1,  # each positive skip-gram has 1 positive context class
        num_sampled=num_ns,  # number of negative context words to sample
        unique=True,  # all the negative samples should be unique
        range_max=vocab_size,  # pick index of the samples from [0, vocab_size]
        seed=SEED,  # seed for reproducibility
        name="negative_sampling"  # name of this operation
    )
    print(negative_sampling_candidates)
    print([inverse_vocab[index.numpy()] for index in negative_sampling_candidates])
    candidates = np.asarray(negative_sampling_candidates).tolist()
    assert len(set(candidates)) == num_ns and all(0 <= c < vocab_size for c in candidates)

    # Reduce a dimension so you can use concatenation (in the next step).
    squeezed_context_class = tf.squeeze(context_class, 1)

    # Concatenate a positive context word with negative sampled words.
    context = tf.concat([squeezed_context_class, negative_sampling_candidates], 0)

    # Label the first context word as `1` (positive) followed by `num_ns` `0`s (negative).
    label = tf.constant([1] + [0]*num_ns, dtype="int64")
    target = target_word

    print(f"target_index    : {target}")
    print(f"target_word     : {inverse_vocab[target_word]}")
    print(f"context_indices : {context}")
    print(f"context_words   : {[inverse_vocab[c.numpy()] for c in context]}")
    print(f"label           : {label}")
    out = capsys.readouterr().out.splitlines()
    assert out[1] == str([inverse_vocab[c] for c in candidates])
    assert np.asarray(context).tolist() == [context_word, *candidates]
    assert out[5] == f"context_words   : {[inverse_vocab[c] for c in [context_word, *candidates]]}"
    assert np.asarray(label).tolist() == [1, 0, 0, 0, 0]

    sampling_table = tf.keras.preprocessing.sequence.make_sampling_table(size=10)
    print(sampling_table)
    assert capsys.readouterr().out == (  # the tutorial's printed output
        "[0.00315225 0.00315225 0.00547597 0.00741556 0.00912817 0.01068435\n"
        " 0.01212381 0.01347162 0.01474487 0.0159558 ]\n")


# Generates skip-gram pairs with negative sampling for a list of sequences
# (int-encoded sentences) based on window size, number of negative samples
# and vocabulary size.
def generate_training_data(sequences, window_size, num_ns, vocab_size, seed):
    # Elements of each training example are appended to these lists.
    targets, contexts, labels = [], [], []

    # Build the sampling table for `vocab_size` tokens.
    sampling_table = tf.keras.preprocessing.sequence.make_sampling_table(vocab_size)

    # Iterate over all sequences (sentences) in the dataset.
    for sequence in sequences:  # the tutorial's tqdm.tqdm(sequences): tqdm is not installed

        # Generate positive skip-gram pairs for a sequence (sentence).
        positive_skip_grams, _ = tf.keras.preprocessing.sequence.skipgrams(
            sequence,
            vocabulary_size=vocab_size,
            sampling_table=sampling_table,
            window_size=window_size,
            negative_samples=0)

        # Iterate over each positive skip-gram pair to produce training examples
        # with a positive context word and negative samples.
        for target_word, context_word in positive_skip_grams:
            context_class = tf.expand_dims(
                tf.constant([context_word], dtype="int64"), 1)
            negative_sampling_candidates, _, _ = tf.random.log_uniform_candidate_sampler(
                true_classes=context_class,
                num_true=1,
                num_sampled=num_ns,
                unique=True,
                range_max=vocab_size,
                seed=seed,
                name="negative_sampling")

            # Build context and label vectors (for one target word)
            context = tf.concat([tf.squeeze(context_class, 1), negative_sampling_candidates], 0)
            label = tf.constant([1] + [0]*num_ns, dtype="int64")

            # Append each element from the training example to global lists.
            targets.append(target_word)
            contexts.append(context)
            labels.append(label)

    return targets, contexts, labels


# 8 topics of 4 words: a line holds one topic's words, shuffled, in mixed case with
# punctuation, so a word's contexts are exactly its 3 topic mates
TOPICS = [["apple", "banana", "cherry", "grape"], ["red", "green", "blue", "violet"],
          ["cat", "dog", "horse", "goat"], ["oak", "pine", "birch", "maple"],
          ["iron", "gold", "silver", "copper"], ["rain", "snow", "hail", "fog"],
          ["piano", "violin", "flute", "drum"], ["mars", "venus", "saturn", "jupiter"]]


def _write_corpus(path, n_lines, rng):
    lines = []
    for i in range(n_lines):
        words = list(TOPICS[rng.integers(len(TOPICS))])
        rng.shuffle(words)
        words = [w.capitalize() if rng.random() < 0.3 else w for w in words]
        lines.append(" ".join(words[:2]) + ", " + " ".join(words[2:]) + "!")
        if i % 50 == 0:
            lines.append("")  # blank lines, which the tutorial's filter drops
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


@int64_warning
def test_word2vec_on_a_corpus_with_fixed_contexts():
    path_to_file = "corpus.txt"  # tf.keras.utils.get_file('shakespeare.txt', ...) offline
    written = _write_corpus(path_to_file, 4000, np.random.default_rng(0))

    with open(path_to_file) as f:
        lines = f.read().splitlines()
    for line in lines[:20]:
        print(line)
    assert lines == written

    text_ds = tf.data.TextLineDataset(path_to_file).filter(
        lambda x: tf.cast(tf.strings.length(x), bool))

    # Now, create a custom standardization function to lowercase the text and
    # remove punctuation.
    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        return tf.strings.regex_replace(lowercase,
                                        '[%s]' % re.escape(string.punctuation), '')  # noqa: UP031

    # Define the vocabulary size and the number of words in a sequence.
    vocab_size = 40  # the tutorial's 4096: the corpus has 32 words
    sequence_length = 10

    # Use the `TextVectorization` layer to normalize, split, and map strings to
    # integers. Set the `output_sequence_length` length to pad all samples to the
    # same length.
    vectorize_layer = layers.TextVectorization(
        standardize=custom_standardization,
        max_tokens=vocab_size,
        output_mode='int',
        output_sequence_length=sequence_length)

    vectorize_layer.adapt(text_ds.batch(1024))

    # Save the created vocabulary for reference.
    inverse_vocab = vectorize_layer.get_vocabulary()
    print(inverse_vocab[:20])
    # oracle: the corpus' 32 words after padding and OOV
    assert inverse_vocab[:2] == ["", "[UNK]"]
    assert sorted(inverse_vocab[2:]) == sorted(w for topic in TOPICS for w in topic)

    # Vectorize the data in text_ds.
    text_vector_ds = text_ds.batch(1024).prefetch(AUTOTUNE).map(vectorize_layer).unbatch()

    sequences = list(text_vector_ds.as_numpy_iterator())
    print(len(sequences))
    non_empty = [line for line in written if line]
    assert len(sequences) == len(non_empty)
    for seq, line in zip(sequences[:50], non_empty):
        words = re.sub(r"[^\w ]", "", line.lower()).split()
        assert [inverse_vocab[i] for i in seq] == words + [""] * (sequence_length - 4)

    for seq in sequences[:5]:
        print(f"{seq} => {[inverse_vocab[i] for i in seq]}")

    targets, contexts, labels = generate_training_data(
        sequences=sequences,
        window_size=2,
        num_ns=4,
        vocab_size=vocab_size,
        seed=SEED)

    targets = np.array(targets)
    contexts = np.array(contexts)
    labels = np.array(labels)

    print('\n')
    print(f"targets.shape: {targets.shape}")
    print(f"contexts.shape: {contexts.shape}")
    print(f"labels.shape: {labels.shape}")
    assert contexts.shape == (len(targets), 5) and labels.shape == (len(targets), 5)
    assert len(targets) > 600  # the sampling table keeps ~2% of the targets
    topic_of = {inverse_vocab.index(w): t for t, topic in enumerate(TOPICS) for w in topic}
    # each positive context is a topic mate of its target
    assert all(topic_of[t] == topic_of[c] and t != c for t, c in zip(targets, contexts[:, 0]))
    assert (labels == [1, 0, 0, 0, 0]).all()

    BATCH_SIZE = 64  # the tutorial's 1024: a smaller corpus
    BUFFER_SIZE = 10000
    dataset = tf.data.Dataset.from_tensor_slices(((targets, contexts), labels))
    dataset = dataset.shuffle(BUFFER_SIZE).batch(BATCH_SIZE, drop_remainder=True)
    print(dataset)

    dataset = dataset.cache().prefetch(buffer_size=AUTOTUNE)
    print(dataset)

    num_ns = 4

    class Word2Vec(tf.keras.Model):
        def __init__(self, vocab_size, embedding_dim):
            super().__init__()  # the tutorial's super(Word2Vec, self) (UP008)
            self.target_embedding = layers.Embedding(vocab_size,
                                                     embedding_dim,
                                                     input_length=1,
                                                     name="w2v_embedding")
            self.context_embedding = layers.Embedding(vocab_size,
                                                      embedding_dim,
                                                      input_length=num_ns+1)

        def call(self, pair):
            target, context = pair
            # target: (batch, dummy?)  # The dummy axis doesn't exist in TF2.7+
            # context: (batch, context)
            if len(target.shape) == 2:
                target = tf.squeeze(target, axis=1)
            # target: (batch,)
            word_emb = self.target_embedding(target)
            # word_emb: (batch, embed)
            context_emb = self.context_embedding(context)
            # context_emb: (batch, context, embed)
            dots = tf.einsum('be,bce->bc', word_emb, context_emb)
            # dots: (batch, context)
            return dots

    embedding_dim = 128
    word2vec = Word2Vec(vocab_size, embedding_dim)
    word2vec.compile(optimizer='adam',
                     loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
                     metrics=['accuracy'])

    tensorboard_callback = tf.keras.callbacks.TensorBoard(log_dir="logs")

    history = word2vec.fit(dataset, epochs=20, callbacks=[tensorboard_callback], verbose=0)
    assert history.history["accuracy"][-1] > 0.9  # the true context is the top logit
    assert os.listdir("logs/train")

    weights = word2vec.get_layer('w2v_embedding').get_weights()[0]
    vocab = vectorize_layer.get_vocabulary()

    # oracle: each word's dot products rank its 3 topic mates above the other 28 words, for
    # the words the sampling table kept often enough as targets to learn (it keeps the top
    # ranks least: ~0.5% of id 2, ~3.5% of id 33)
    context_weights = word2vec.context_embedding.get_weights()[0]
    assert weights.shape == context_weights.shape == (vocab_size, embedding_dim)
    scores = weights @ context_weights.T
    trained = [w for w, n in zip(*np.unique(targets, return_counts=True)) if n >= 12]
    assert len(trained) >= 24, len(trained)
    for word in trained:
        topic = topic_of[word]
        mates = [c for c, t in topic_of.items() if t == topic and c != word]
        others = [c for c, t in topic_of.items() if t != topic]
        assert scores[word, mates].min() > scores[word, others].max(), vocab[word]

    # as written: io.open without a context manager
    out_v = io.open('vectors.tsv', 'w', encoding='utf-8')  # noqa: SIM115, UP020
    out_m = io.open('metadata.tsv', 'w', encoding='utf-8')  # noqa: SIM115, UP020

    for index, word in enumerate(vocab):
        if index == 0:
            continue  # skip 0, it's padding.
        vec = weights[index]
        out_v.write('\t'.join([str(x) for x in vec]) + "\n")
        out_m.write(word + "\n")
    out_v.close()
    out_m.close()

    np.testing.assert_array_equal(np.loadtxt("vectors.tsv", delimiter="\t", dtype=np.float32),
                                  weights[1:len(vocab)])
    with open("metadata.tsv", encoding="utf-8") as f:
        assert f.read().splitlines() == vocab[1:]

