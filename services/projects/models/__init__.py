"""What the projects service speaks on the wire (camelCase), one module per resource."""
