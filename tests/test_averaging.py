"""fovea.train: the weighted mean of state dicts and the majority vote of members'
probabilities."""

import numpy as np
import pytest

from fovea.autograd import Tensor
from fovea.models import MLP
from fovea.train.callbacks import average_states, snapshot
from fovea.train.predict import majority_vote


def test_average_states_weights_floats_and_keeps_other_entries():
    a = {"w": np.array([1.0, 2.0], np.float32), "n": np.array(3, np.int64)}
    b = {"w": Tensor(np.array([3.0, 6.0], np.float32)), "n": np.array(9, np.int64)}
    mean = average_states([a, b])
    assert mean["w"].dtype == np.float32
    np.testing.assert_allclose(mean["w"], [2.0, 4.0])
    assert mean["n"] == 3  # a counter is not averaged: the first state's
    np.testing.assert_allclose(average_states([a, b], (0.75, 0.25))["w"], [1.5, 3.0])
    with pytest.raises(ValueError):
        average_states([a, b], (1.0,))
    with pytest.raises(ValueError):
        average_states([])


def test_average_states_loads_into_the_model():
    first, second = MLP((4, 3, 2)), MLP((4, 3, 2))
    before = [snapshot(first), snapshot(second)]
    first.load_state_dict(average_states([first.state_dict(), second.state_dict()]))
    for key, value in snapshot(first).items():
        np.testing.assert_allclose(value, (before[0][key] + before[1][key]) / 2, rtol=1e-6)
    assert not np.allclose(before[0]["layers.1.weight"], before[1]["layers.1.weight"])


def test_majority_vote_counts_members_and_breaks_ties_by_mean_probability():
    p = np.array([[[0.6, 0.4, 0.0], [0.1, 0.2, 0.7]],
                  [[0.55, 0.45, 0.0], [0.0, 0.9, 0.1]],
                  [[0.0, 0.51, 0.49], [0.0, 0.4, 0.6]]], np.float32)
    # sample 0: two members say class 0; sample 1: two say class 2
    np.testing.assert_array_equal(majority_vote(p), [0, 2])
    # two members, one vote each: the larger mean probability wins (class 1: 0.55 > 0.4)
    tie = np.array([[[0.6, 0.4]], [[0.1, 0.9]]], np.float32)
    np.testing.assert_array_equal(majority_vote(tie), [1])
