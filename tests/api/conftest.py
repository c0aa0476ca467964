"""Every refused input goes through both POST /payments/ and POST /payments/batch/: the same
refusal (status, code, param) and no money moved."""

import json

import pytest

SINGLE = "/api/v1/payments/"
BATCH = "/api/v1/payments/batch/"


def good_item(**changes) -> dict:
    return {"payee": "bob", "token": "USDT", "amount": "1.5", **changes}


class Endpoint:
    """Sends one payment item as a single payment or as a one-item batch, and reads the
    refusal the same way from either."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return self.name

    def body(self, item_json: str) -> str:
        return item_json if self.name == "single" else f'{{"payments": [{item_json}]}}'

    def send(self, client, item, **headers):
        """`item` is a dict, or raw JSON text (for what json.dumps cannot write)."""
        item_json = item if isinstance(item, str) else json.dumps(item)
        url = SINGLE if self.name == "single" else BATCH
        return client.post(
            url, data=self.body(item_json), content_type="application/json", **headers
        )

    def outcome(self, response) -> tuple[int, str | None, str | None]:
        """(status, code, param) of the item: a batch's item result, or the whole answer
        when the batch itself was refused; a batch's `payments[0].` prefix removed."""
        body = response.json()
        if self.name == "batch" and response.status_code == 200:
            (result,) = body["results"]
            error = result.get("error") or {}
            return result["status"], error.get("code"), error.get("param")
        error = body.get("error") or {}
        param = error.get("param")
        if param and param.startswith("payments[0]."):
            param = param.removeprefix("payments[0].")
        return response.status_code, error.get("code"), param


@pytest.fixture(params=["single", "batch"])
def endpoint(request):
    return Endpoint(request.param)


@pytest.fixture
def payer(alice, bob, usdt, fund):
    fund(alice, usdt, 100)
    return alice


@pytest.fixture
def money_snapshot(db):
    """money_snapshot() -> every balance and the payment count; compare before and after."""
    from wallets.models import LedgerAccount, Payment

    def _snapshot():
        balances = dict(LedgerAccount.objects.values_list("pk", "balance"))
        return balances, Payment.objects.count()

    return _snapshot
