"""One router per resource: categorize, similar (search), products, service."""
