"""Media on the wire (camelCase), one module per resource."""
