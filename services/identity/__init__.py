"""Identity: users and roles, sign-in, tokens and their revocation, display tokens."""
