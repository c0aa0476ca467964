"""Every write in the wallets app; one function per use case (docs/architecture.md, section 1)."""
