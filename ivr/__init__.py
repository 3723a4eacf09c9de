"""Priority Support call router."""


def create_app(config=None):
    """The Flask app (see `ivr.web.app.create_app`); imported on call so `import ivr` does nothing."""
    from ivr.web.app import create_app as factory

    return factory(config)
