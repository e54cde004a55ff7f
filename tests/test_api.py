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
    out = capsys.readouterr().out
    assert re.search(r"σ=0\.1: [\d.]+ dB \(noisy 20\.\d\d dB\)", out)
    assert "sparsity" in namespace["analysis"].metrics and namespace["analysis"].metrics["findings"]
    assert {"participation ratio", "sparsity"} & set(out.replace("(", " ").split()) or "Fig." in out
    assert namespace["figures"] and all(f.is_file() for f in namespace["figures"])
    assert (tmp_path / "out/samples/samples.png").is_file() and (tmp_path / "out/report/index.html").is_file()
    assert namespace["index"] == tmp_path / "out/report/index.html" or Path(namespace["index"]).resolve() == (tmp_path / "out/report/index.html").resolve()
    assert tuple(namespace["phi"].shape) == (8, 2, namespace["d"].config.mid_width)
