"""Audited effects: promote, rollback, lock, trigger, delete, pin, retention apply."""
