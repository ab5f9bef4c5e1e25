"""Google sign-in and GitHub account linking, by the OAuth 2.0 authorization code flow.

`flow` binds a flow to the browser that started it, `providers` speaks to Google and GitHub, and
`routes` are the redirects in between. Google accounts match on `google_id`, then on an email
Google says is verified; GitHub tokens are stored in a column no client role can read.
"""
