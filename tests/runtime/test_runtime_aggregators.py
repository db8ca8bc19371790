import numpy as np
import pytest

from edgevla.runtime.aggregators import AGGREGATORS, get_aggregator, resolve_aggregator

OLD = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0], [0.0, 10.0]], np.float32)
NEW = np.array([[1.0, 20.0], [1.0, 20.0], [1.0, 20.0], [1.0, 20.0]], np.float32)


@pytest.mark.parametrize(
    ("name", "first_row"),
    [
        ("weighted_average", [0.7, 17.0]),
        ("latest_only", [1.0, 20.0]),
        ("average", [0.5, 15.0]),
        ("conservative", [0.3, 13.0]),
    ],
)
def test_constant_weight_aggregators_match_hand_values(name, first_row):
    out = get_aggregator(name)(OLD, NEW)
    assert out.dtype == np.float32 and out.shape == OLD.shape
    np.testing.assert_allclose(out, np.tile(first_row, (4, 1)), rtol=1e-6)


def test_crossfade_ramps_from_old_to_new():
    # K = 4: weights on new are 1/4, 2/4, 3/4, 4/4
    out = get_aggregator("crossfade")(OLD, NEW)
    np.testing.assert_allclose(out[:, 0], [0.25, 0.5, 0.75, 1.0], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], [12.5, 15.0, 17.5, 20.0], rtol=1e-6)


def test_crossfade_single_step_is_latest_only():
    np.testing.assert_array_equal(get_aggregator("crossfade")(OLD[:1], NEW[:1]), NEW[:1])


def test_crossfade_is_smoother_than_weighted_average_at_the_handover():
    """Old plan stands still, new plan is offset by 1: the largest step between consecutive
    commanded targets (old prefix, blended overlap, new suffix) is smaller for crossfade."""
    k = 5
    old = np.zeros((k, 1), np.float32)
    new = np.ones((k, 1), np.float32)

    def max_step(name):
        traj = np.concatenate([old[:1], get_aggregator(name)(old, new), new[:1]])
        return np.abs(np.diff(traj[:, 0])).max()

    assert max_step("crossfade") == pytest.approx(1 / k)
    assert max_step("weighted_average") == pytest.approx(0.7)


def test_aggregators_do_not_modify_inputs():
    old, new = OLD.copy(), NEW.copy()
    for fn in AGGREGATORS.values():
        fn(old, new)
    np.testing.assert_array_equal(old, OLD)
    np.testing.assert_array_equal(new, NEW)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"same shape \[K, A\]"):
        get_aggregator("average")(OLD, NEW[:2])


def test_unknown_name_lists_known_ones():
    with pytest.raises(
        ValueError, match="unknown aggregator 'median'.*weighted_average.*crossfade"
    ):
        get_aggregator("median")


def test_resolve_accepts_callables():
    def mine(old, new):
        return new

    assert resolve_aggregator(mine) == ("mine", mine)
    assert resolve_aggregator("average")[0] == "average"
    with pytest.raises(TypeError):
        resolve_aggregator(3)
