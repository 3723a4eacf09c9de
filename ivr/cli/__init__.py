"""The `ivr` command and the call simulator."""
