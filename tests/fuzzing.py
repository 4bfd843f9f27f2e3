"""The hypothesis settings of the fuzzing suites, picked by HYPOTHESIS_PROFILE.

"ci" (the default) runs the same few examples every time, so `make test` is repeatable and quick;
"fuzz" (`make fuzz`) explores: new examples every run, many more of them, each failure shrunk and
printed with the blob that replays it. Neither keeps an example database in the work tree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import hypothesis


def profile(
    *, fuzz_examples: int, ci_examples: int, ci_only: Mapping[str, Any] | None = None, **both: Any
) -> hypothesis.settings:
    """The suite's settings for the chosen profile: `both` holds what the two share, `ci_only` what
    "ci" changes besides its number of examples."""
    fuzz = hypothesis.settings(max_examples=fuzz_examples, deadline=None, database=None, print_blob=True, **both)
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "fuzz":
        return fuzz
    return hypothesis.settings(fuzz, max_examples=ci_examples, derandomize=True, **(ci_only or {}))
