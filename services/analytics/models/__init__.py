"""What the analytics service speaks on the wire (camelCase), by resource."""
