"""Writes of the offline app, one module per subdomain: vouchers (registration, limits,
expiry), redemptions (the vendor sync, double spends) and settlement (the committee)."""
