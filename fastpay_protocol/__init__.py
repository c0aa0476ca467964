"""The FastPay protocol in plain Python: no Django, no Celery.

EIP-712 typed data shared with the contracts (`typed_data`); the committee client and the
voucher library will live here too, so a wallet app or a POS terminal can embed them.
"""
