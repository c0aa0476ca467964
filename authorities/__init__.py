"""The authority committee: the platform's registry of it (this app) and the node
software each authority runs (authorities.node, installed by fastpay.settings_authority)."""
