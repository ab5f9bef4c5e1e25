"""Auth: who people are, and their sessions.

Owns (supabase/migrations/*_auth_*.sql): the identity columns of `users`, `refresh_tokens` (one
family per sign-in session), `password_reset_tokens`, `email_outbox`. Exports the SQL functions
`current_session_is_active()` (every service, as the user, for each signed-in request) and, for
its own service-role paths, `verify_email`, `rotate_refresh_token`, `reset_password`,
`link_google_account` and `lease_outbound_email`. Calls billing's `grant_signup_bonus` and
projects' `claim_guest_session` as the service role.

    routes.py     the /auth routes, and the only place cookies are set
    sessions.py   Sessions: sign-up and -in, refresh, sign-out, passwords, OAuth accounts
    profiles.py   Profiles: what people see and change of themselves, through the session cache
    tokens.py     access and guest JWTs, opaque tokens, keys derived for one purpose each
    cookies.py    session cookies, and the credentials a request presents
    passwords.py  Argon2id off the event loop, and checking a password
    mail.py       what we write to people, and the outbox sender
    oauth/        Google sign-in and GitHub linking: flow state, provider clients, redirects
    repo.py       AuthRepository (service role), AccountRepository (the caller)
    models.py     wire Structs and auth's problems
"""
