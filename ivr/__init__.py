"""Priority Support call router."""
