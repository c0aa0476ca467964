"""Every write in the wallets app; one function per use case (see ARCHITECTURE.md 1)."""
