"""Media's queries, one module per resource."""
