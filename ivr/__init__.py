"""Priority Support call router.

Layers, bottom up; imports only point down (tests/test_layers.py checks it):
  ivr.engine    pure: phonebook, hours, routing, coverage, entitlement rule, call events and outcomes;
                functions of (phonebook, instant), no Flask, database, network or clock.
  ivr.callflow  the conversation (state, input, prompts, TwiML); ivr.store  the call log, counters,
                the phonebook file; ivr.outside  licensing, texts, alerts; ivr.config and ivr.clock.
  ivr.web       the Flask app and its services registry; ivr.cli  the `ivr` command and the simulator.
"""


def create_app(config=None):
    """The Flask app (see `ivr.web.app.create_app`); imported on call so `import ivr` does nothing."""
    from ivr.web.app import create_app as factory

    return factory(config)
