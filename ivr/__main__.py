"""`python -m ivr ...` is the `ivr` command, for a platform that installs the dependencies but not
this package itself (Heroku installs requirements.txt only: the Procfile's release step)."""

from ivr.cli.commands import main

main(prog_name="ivr")
