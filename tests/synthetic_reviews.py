"""IMDB-like synthetic movie reviews for the text tutorials' ports (no download): filler
words, HTML breaks and punctuation, and one sentiment word that decides the label."""

import numpy as np

POSITIVE = ["great", "wonderful", "loved", "brilliant", "moving"]
NEGATIVE = ["awful", "boring", "hated", "dull", "terrible"]
FILLER = ["the", "movie", "film", "plot", "actor", "was", "a", "and", "it", "story"]


def reviews(n, seed):
    """(texts, int64 labels): n reviews, label 1 for a positive word."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    texts = []
    for label in labels:
        words = list(rng.choice(FILLER, rng.integers(4, 9)))
        words.insert(rng.integers(0, len(words)), rng.choice(POSITIVE if label else NEGATIVE))
        texts.append(" ".join(words).capitalize() + "!<br /><br />" + rng.choice(FILLER))
    return np.array(texts), labels.astype("int64")
