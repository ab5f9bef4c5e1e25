"""What the billing service speaks on the wire (camelCase), and its problems, by resource."""
