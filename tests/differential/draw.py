"""Drawing random architectures from the strategies, reproducibly from a seed.

Hypothesis's ``@given`` starts from the simplest example and then mutates what it found, which
suits a property over one example but not a batch of independent random models; so each model is
drawn by hypothesis's own engine from a ``random.Random`` seeded per model (``ConjectureData``, the
object ``@given`` draws through), which keeps every drawn value within the strategies' bounds and
reproducible from (seed, index)."""

from __future__ import annotations

import random

from hypothesis.control import BuildContext
from hypothesis.errors import StopTest
from hypothesis.internal.conjecture.data import ConjectureData

from tests.differential.spec import ModelSpec
from tests.differential.strategies import model_specs

#: the most choices one model's drawing may make before it is drawn again from the next seed
MAX_CHOICES = 4000


def draw_model(model_seed: int, frameworks: tuple[str, ...] = ("keras3", "tf_keras", "dl4j")) -> ModelSpec:
    strategy = model_specs(frameworks)
    for attempt in range(100):
        data = ConjectureData(random=random.Random(f"{model_seed}/{attempt}"), max_choices=MAX_CHOICES)
        try:
            with BuildContext(data, wrapped_test=draw_model):
                return data.draw(strategy)
        except StopTest:  # drew past the choice limit
            continue
    raise RuntimeError(f"no model drawn from seed {model_seed}")


def draw_batch(batch_seed: int, size: int, frameworks: tuple[str, ...] = ("keras3", "tf_keras", "dl4j"),
               start: int = 0) -> list[ModelSpec]:
    return [draw_model(batch_seed * 1_000_003 + start + i, frameworks) for i in range(size)]
