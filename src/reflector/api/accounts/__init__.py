"""Accounts: who the caller is (``/v1/me``), users for administrators, and signing in."""
