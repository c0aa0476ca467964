"""Back office of the platform's keys: HD accounts and the derived addresses (read-only:
they are recorded by manage.py wallet_init and derived from the seed, an edit could only
break the derivation), and the platform addresses, where an operator may add an external
one (the cold Safe) but never change or delete a recorded one."""

from django import forms
from django.contrib import admin
from eth_utils import is_checksum_address

from fastpay.admin_mixins import ReadOnlyAdmin
from wallets.chain import hd
from wallets.chain.models import DepositAddress, HDAccount, PlatformAddress


@admin.register(HDAccount)
class HDAccountAdmin(ReadOnlyAdmin):
    list_display = ["name", "path", "seed_fingerprint", "next_index", "created_at"]
    readonly_fields = ["name", "account_index", "path", "xpub", "seed_fingerprint", "next_index"]
    fields = readonly_fields

    @admin.display(description="BIP-44 path")
    def path(self, obj):
        return hd.account_path(obj.account_index)


class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ["address", "chain", "user", "purpose", "path", "reference", "created_at"]
    list_filter = ["chain", "purpose"]
    search_fields = ["address", "user__username", "reference"]
    list_select_related = ["chain", "user", "account"]
    readonly_fields = [
        "address",
        "chain",
        "user",
        "purpose",
        "reference",
        "account",
        "index",
        "path",
        "created_at",
    ]
    fields = readonly_fields
    show_full_result_count = False  # 10,000s of rows: no COUNT(*) per page

    @admin.display(description="BIP-44 path")
    def path(self, obj):
        return f"{hd.account_path(obj.account.account_index)}/0/{obj.index}"


# The watcher's admin (admin_watcher.py) may register DepositAddress too: one is enough.
if not admin.site.is_registered(DepositAddress):
    admin.site.register(DepositAddress, DepositAddressAdmin)


class ExternalAddressForm(forms.ModelForm):
    class Meta:
        model = PlatformAddress
        fields = ["chain", "role", "address"]

    def clean_address(self):
        address = self.cleaned_data["address"]
        if not is_checksum_address(address):
            raise forms.ValidationError("an EIP-55 checksummed address (0x + 40 hex digits)")
        return address


@admin.register(PlatformAddress)
class PlatformAddressAdmin(admin.ModelAdmin):
    """Derived rows come from wallet_init; an external one (a Safe) is added here once."""

    form = ExternalAddressForm
    list_display = ["chain", "role", "address", "origin", "created_at"]
    list_filter = ["chain", "role"]
    search_fields = ["address"]
    list_select_related = ["chain", "account"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["chain", "role", "address", "origin", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["chain", "role", "address"]
        return self.get_readonly_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="origin")
    def origin(self, obj):
        if obj.account_id is None:
            return "external"
        return f"{hd.account_path(obj.account.account_index)}/0/{obj.index}"
