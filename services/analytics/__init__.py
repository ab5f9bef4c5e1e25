"""Analytics: page views and admin statistics."""
