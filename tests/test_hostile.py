"""Hostile input: verbatim messages, refusals before anything is written, one writer per folder, stage markers."""

import pytest
import typer

from denoscope.cli import stage
from denoscope.errors import ConfigError


def test_an_error_message_is_printed_verbatim_without_markup_parsing(capsys):
    message = "--sigma must be finite, got [1, 2] in [/] and [bold]nan[/bold]"

    @stage
    def fails():
        raise ConfigError(message)

    with pytest.raises(typer.Exit):
        fails()
    err = capsys.readouterr().err
    assert "error:" in err and message in err, err
