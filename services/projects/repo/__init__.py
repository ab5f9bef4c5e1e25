"""The projects service's queries, one module per resource, in the shared repository vocabulary."""
