"""Web plumbing: errors, JSON, request ids, metrics and logs."""
