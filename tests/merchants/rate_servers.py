"""Local HTTP servers that answer as the rate providers do, from recorded answers
(tests/merchants/recorded/), with the faults a provider has: an outage (HTTP 500), a
timeout, garbage, a stale or a diverging price. One server per provider, so that the
platform's FASTPAY_RATE_URLS points each provider at its own."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0


@dataclass
class ProviderServer:
    """``answer(path, query) -> Answer`` decides each reply; ``requests`` counts them."""

    name: str
    answer: object = None
    requests: list = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                owner.requests.append((parts.path, query))
                reply = owner.answer(parts.path, query)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def body(data: dict) -> bytes:
    return json.dumps(data).encode()


# ------------------------------------------------------------- recorded, made fresh
# The recorded answers carry the time they were recorded; each reply is re-dated to now
# (minus ``age_s``), and its price replaced when a test asks for another.


def coingecko(*, price: str | None = None, age_s: float = 0, fiat: str = "eur") -> Answer:
    data = recorded(f"coingecko_simple_price_tether_{fiat}.json")
    data["tether"]["last_updated_at"] = int(time.time() - age_s)
    text = json.dumps(data)
    if price is not None:  # a JSON number, as CoinGecko sends it
        text = text.replace(json.dumps(data["tether"][fiat]), price)
    return Answer(body=text.encode())


def kraken(*, price: str | None = None, pair: str = "usdteur") -> Answer:
    data = recorded(f"kraken_ticker_{pair}.json")
    if price is not None:
        (ticker,) = data["result"].values()
        ticker["c"][0] = price
    return Answer(body=body(data))


def coinbase(*, price: str | None = None, fiat: str = "EUR") -> Answer:
    data = recorded("coinbase_exchange_rates_usdt.json")
    if price is not None:
        data["data"]["rates"][fiat] = price
    return Answer(body=body(data))


def binance(*, last_price: str | None = None, age_s: float = 0) -> Answer:
    data = recorded("binance_ticker_24hr_eurusdt.json")
    data["closeTime"] = int((time.time() - age_s) * 1000)
    if last_price is not None:
        data["lastPrice"] = last_price
    return Answer(body=body(data))


FRESH = {"coingecko": coingecko, "kraken": kraken, "coinbase": coinbase, "binance": binance}
