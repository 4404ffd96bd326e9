"""The no-duplicates batch sampler, without the one-row batches MNRL cannot learn from.

Its own module because it subclasses sentence-transformers' sampler: importing it loads torch,
which only training needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from sentence_transformers.base.sampler import NoDuplicatesBatchSampler


class AtLeastTwoNoDuplicatesBatchSampler(NoDuplicatesBatchSampler):
    """No-duplicates batches, minus single-row leftovers, which MNRL cannot learn from.

    With few distinct positives the sampler's last batch of a pass is often one row.
    """

    def __iter__(self) -> Iterator[list[int]]:
        for batch in super().__iter__():
            if len(batch) >= 2:  # in-batch negatives need a second row
                yield batch
