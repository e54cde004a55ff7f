import pytest
from typer.testing import CliRunner

from denoscope.cli import app


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory):
    """`denoscope demo --quick` run once for every test that reads its folders; (folder, CLI output)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    done = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), "--seed", "3"])
    assert done.exit_code == 0, done.output
    return out, done.output
