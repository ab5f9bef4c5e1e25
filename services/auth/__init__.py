"""Auth: users' identity columns, guest sessions, tokens and OAuth."""
