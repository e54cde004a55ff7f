"""The public API: every name of `import denoscope as ds` is the documented object, and docs/api.md's example runs."""

import importlib
import pkgutil
import re
import types
from pathlib import Path

import pytest

import denoscope as ds

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_every_public_name_is_its_function_or_class_even_after_every_submodule_is_imported():
    """A submodule named like a stage function (train, represent, report) would replace the function on the package."""
    for module in pkgutil.walk_packages(ds.__path__, "denoscope."):
        importlib.import_module(module.name)
    for name in ds.__all__:
        value = getattr(ds, name)
        module, attr = ds.API[name]
        assert not isinstance(value, types.ModuleType), name
        assert value is getattr(importlib.import_module(f"denoscope.{module}"), attr), name
    with pytest.raises(AttributeError):
        ds.no_such_name


def example_code() -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S))


def test_the_example_imports_nothing_private():
    code = example_code()
    assert "import denoscope as ds" in code
    assert not re.search(r"from denoscope|denoscope\.\w", code)
    assert not re.search(r"\bds\._", code)


def test_the_documented_example_runs_from_a_model_to_a_finding_and_a_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example_code(), str(DOCS), "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    quality = [line for line in lines if re.fullmatch(r"σ=0\.\d+: \d+\.\d\d dB \(noisy \d+\.\d\d dB\)", line)]
    assert len(quality) == 3 and "(noisy 20.01 dB)" in quality[1]
    findings = namespace["analysis"].metrics["findings"]
    verdicts = [line for line in lines if re.match(r"(holds|partly \(\d of \d\)|does not hold|too few images to tell) ", line)]
    assert len(findings) >= 3 and len(verdicts) == len(findings)
    assert {f.name for f in namespace["figures"]} >= {"sparsity.png", "selectivity.png", "clusters.png"}
    assert all(f.is_file() for f in namespace["figures"])
    assert (tmp_path / "out/samples/samples.png").is_file() and (tmp_path / "out/report/index.html").is_file()
    assert Path(namespace["index"]).resolve() == (tmp_path / "out/report/index.html").resolve()
    d = namespace["d"]
    assert tuple(namespace["phi"].shape) == (8, 2, d.config.mid_width)
    assert namespace["rep"].phi(0.5).shape == (64, d.config.mid_width)


def test_a_command_saves_what_its_function_returns(tmp_path):
    """The CLI is parsing + the library call + saving: `denoscope denoise` writes the numbers `ds.denoise` returns."""
    import json

    import torch
    from typer.testing import CliRunner

    from denoscope.checkpoint import save_weights
    from denoscope.cli import app
    from denoscope.nn.unet import BlindUNet

    torch.manual_seed(0)
    save_weights(tmp_path / "w.safetensors", BlindUNet(ds.model_config("tiny")))
    source = "synthetic:shapes?n=6&size=16&seed=3"
    result = CliRunner().invoke(app, ["denoise", "--model", str(tmp_path / "w.safetensors"), "--data", source,
                                      "--sigma", "0.1", "0.3", "--seed", "4", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    ours = ds.denoise(ds.load(tmp_path / "w.safetensors"), ds.images(source), sigmas=(0.1, 0.3), seed=4)
    assert json.loads((tmp_path / "cli/metrics.json").read_text()) == json.loads(json.dumps(ours.metrics))
    assert ds.draw(tmp_path / "cli") == [tmp_path / "cli/denoised.png"]
