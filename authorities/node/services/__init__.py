"""Every write of the node: one function per use case, one transaction each, account rows
locked through ``locks.accounts_lock`` (primary-key order). Signature checks and other CPU
work run before the transaction so that locks are held for the database work only."""
