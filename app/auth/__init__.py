"""Who may do what: principals and roles, the central access rules, passwords, and the HTTP middleware
that applies the rules to every request (default deny). Accounts, tokens and device keys themselves are
kept by `services/accounts/` and `services/device_keys.py`."""
