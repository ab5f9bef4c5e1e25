"""Billing: diamonds and tiers (changed by SQL functions only), transactions, guest usage,
domain orders and prices."""
