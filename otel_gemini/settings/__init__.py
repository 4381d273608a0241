"""Settings: environment/kwargs parsing (config), declared limits (limits), and the account built from them.

One place, so the library and the agent are configured the same way (same labels, limits and prices).
"""
