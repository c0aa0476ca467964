"""The FastPay protocol in plain Python: no Django, no Celery. The authority node, the
platform, wallets and POS terminals all import these one definitions:

- ``typed_data``: the EIP-712 domain and types shared with the contracts (the reference);
  ``signing``: the same digests and secp256k1 signatures, fast (``keccak``: its hash);
- ``addresses``: the one rule for accepting an address and the one cached EIP-55 helper;
- ``wire``: the one parser of the authority wire format (the nodes parse requests with
  it); ``messages``: its typed values for clients (orders, votes, certificates, accounts);
- ``membership``: ``Committee`` with the one quorum rule, and ``committee_load``, the one
  committee-file loader;
- ``committee``: the committee client; ``voucher``, ``pos``, ``wallet``, ``cli``: offline
  vouchers, the terminal, the wallet and the ``fastpay`` command.
"""
