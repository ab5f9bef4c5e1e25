"""Stand-ins for third-party HTTP APIs (v0, Vercel), speaking their real wire formats.

The tests call them over real HTTP, and `sajtmaskin dev` serves them when no API key is
configured, so a newcomer can generate and deploy sites without accounts. They live outside
`tests/` for that reason, and outside the wheel: deployments never serve them.
"""
