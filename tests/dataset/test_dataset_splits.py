import pytest

from edgevla.dataset.splits import RecordingPlan, evaluation_sets


def test_plan_records_training_clusters_first_and_holdout_last():
    plan = RecordingPlan(
        tuple(range(1, 12)), holdout=6, episodes_per_cluster=10, recovery_per_cluster=2
    )
    specs = plan.episodes()
    assert len(specs) == 11 * 12
    train = [s for s in specs if s.split == "train"]
    val = [s for s in specs if s.split == "validation"]
    assert all(s.start.cluster != 6 for s in train), "held-out cluster leaked into training"
    assert {s.start.cluster for s in val} == {6}
    assert specs[: len(train)] == train, "validation episodes must come last (contiguous split)"
    assert sum(s.recovery for s in train) == 20 and len(train) == 120
    assert [s.index for s in specs] == list(range(len(specs)))


def test_evaluation_sets_follow_the_protocol_and_are_seeded():
    sets = evaluation_sets(tuple(c for c in range(1, 12) if c != 6), holdout=6, seed=0)
    assert len(sets["test"]) == 20 and len(sets["validation"]) == 10
    assert all(s.cluster != 6 for s in sets["test"])
    assert {s.cluster for s in sets["validation"]} == {6}
    assert sets == evaluation_sets(tuple(c for c in range(1, 12) if c != 6), holdout=6, seed=0)
    assert (
        sets["test"] != evaluation_sets(tuple(c for c in range(1, 12) if c != 6), 6, seed=1)["test"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clusters": (1, 2, 99), "holdout": 2}, "unknown clusters"),
        ({"clusters": (1, 2, 3), "holdout": 6}, "held-out cluster 6 is not in"),
        ({"clusters": (1, 1), "holdout": None}, "listed twice"),
        ({"clusters": (1,), "holdout": 1}, "at least two clusters"),
    ],
)
def test_bad_plans_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RecordingPlan(**kwargs)
