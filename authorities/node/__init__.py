"""The authority node: the software each committee member runs (its own database and key).

Installed only by fastpay.settings_authority; app label ``authority_node`` keeps its
tables and migrations apart from the platform's ``authorities`` app.
"""
