"""The analytics service's queries, in the shared repository vocabulary, by resource."""
