"""The pure engine: phonebook model and loader, business hours, routing, coverage, call events and
outcomes. Functions of (phonebook, instant): no Flask, no SQLAlchemy, no HTTP, no clock."""
