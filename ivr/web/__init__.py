"""The Flask app: the factory, one blueprint per audience (Twilio webhooks, ops), auth, health, metrics."""
