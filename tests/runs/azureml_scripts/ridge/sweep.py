"""A helper module next to the script: the sweep and the data split."""

import numpy as np
from sklearn.model_selection import train_test_split


def alphas():
    return np.arange(0.0, 1.0, 0.2)


def split(X, y):
    return train_test_split(X, y, test_size=0.2, random_state=0)
