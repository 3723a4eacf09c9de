"""What the service keeps: the call log (SQLAlchemy), the counters, the phonebook file in force."""
