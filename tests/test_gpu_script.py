"""benchmarks/gpu.sh, in its --cpu form, and the optional packages a GPU machine's own Python may lack."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from denoscope.analysis.neighbours import cosine_neighbours
from denoscope.checkpoint import config_text, flat_toml
from denoscope.config import PRESETS, TrainConfig, to_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("config", [*PRESETS.values(), TrainConfig(data='a "b"\\c é', ema=0.999, eval_sigmas=(0.05, 1e-5)),
                                    TrainConfig(data="x", image_size=32, flip=False)])
def test_configs_are_written_the_same_without_tomli_w(config):
    tomli_w = pytest.importorskip("tomli_w")
    text = flat_toml(to_dict(config))
    assert text == tomli_w.dumps(to_dict(config))
    assert tomllib.loads(text) == tomllib.loads(config_text(config))


def test_neighbours_are_the_same_without_faiss(monkeypatch):
    pytest.importorskip("faiss")
    x = np.random.default_rng(0).normal(size=(200, 12))
    x[7] = 0
    queries = np.array([0, 7, 50, 199])
    with_faiss = cosine_neighbours(x, queries, 5)
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    without = cosine_neighbours(x, queries, 5)
    np.testing.assert_array_equal(without[0][[0, 2, 3]], with_faiss[0][[0, 2, 3]])  # row 7's cosines all tie at 0
    np.testing.assert_allclose(without[1], with_faiss[1], atol=1e-6)
