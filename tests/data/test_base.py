"""InMemoryDataModule's splits: the fewest examples they need, said before splitting."""

from __future__ import annotations

import pytest
import torch

from vaelab.data.base import InMemoryDataModule, examples_needed, split_off


class Rows(InMemoryDataModule):
    """n examples of 2 numbers each, as one set."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def load(self):
        return {"all": (torch.arange(2.0 * self.n).view(self.n, 2), torch.full((self.n,), -1))}


@pytest.mark.parametrize(
    ("test_size", "val_size"), [(0.1, 0.1), (0.2, 0.1), (0.5, 0.5), (0.01, 0.3), (2, 3), (1, 0.25), (0.3, 4)]
)
def test_examples_needed_is_exactly_the_fewest_that_split(test_size, val_size):
    need = examples_needed(test_size, val_size)
    dm = Rows(need, test_size=test_size, val_size=val_size)
    dm.setup()
    assert all(len(x) >= 1 for x, _ in dm.splits.values()) and sum(len(x) for x, _ in dm.splits.values()) == need
    with pytest.raises(ValueError) as err:
        Rows(need - 1, test_size=test_size, val_size=val_size).setup()
    assert str(err.value) == (
        f"data=Rows holds {need - 1} example{'' if need == 2 else 's'}; data.test_size={test_size} and "
        f"data.val_size={val_size} need at least {need} (one or more each for the test, validation and training splits)"
    )


def test_sizes_no_count_satisfies_are_left_to_split_off():
    assert examples_needed(0, 0.1) is None and examples_needed(0.1, -1) is None
    with pytest.raises(ValueError, match=r"data\.test_size=0 takes 0 of 50 examples: give a count from 1 to 49"):
        Rows(50, test_size=0).setup()


def test_split_off_of_one_example_says_so():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError) as err:
        split_off((torch.zeros(1, 2), torch.zeros(1)), 0.1, g, "data.val_size")
    assert str(err.value) == "data.val_size=0.1: the set to split has 1 example(s); splitting needs 2 or more"
