"""The `ivr` command line: the admin and ops edge. It reads the clock; the engine never does."""

from __future__ import annotations

import os

import click

DEFAULT_PHONEBOOK = "phonebook.toml"

phonebook_option = click.option(
    "--phonebook",
    "phonebook_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("IVR_PHONEBOOK", DEFAULT_PHONEBOOK),
    show_default="$IVR_PHONEBOOK or ./phonebook.toml",
    help="The phonebook file to read.",
)


@click.group()
def main() -> None:
    """Priority Support call router: check the phonebook, see who is on duty, route and replay calls."""
