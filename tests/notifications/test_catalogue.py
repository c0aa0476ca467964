"""The catalogue covers every topic the code emits, and docs/events.md shows it all.

The emitters are found on the syntax tree: ``topic=`` arguments (constants, conditional
expressions, f-strings), the first argument of the modules' ``_event(...)`` helpers and
OutboxEvent(...), and the ``TOPICS`` tables. An emitter added without its catalogue entry
fails here, not in production (where it would reach staff only)."""

import ast
import json
import re
from pathlib import Path

import pytest

from notifications.catalogue import CATALOGUE, catalogue_markdown

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "fastpay",
    "wallets",
    "fraud",
    "offline",
    "authorities",
    "notifications",
    "settlement",
    "merchants",
]
TOPIC = re.compile(r"^[a-z_]+\.[a-z_]+$")


def _strings(node) -> tuple[set[str], set[str]]:
    """(topics, f-string prefixes) an expression can evaluate to."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and TOPIC.match(node.value):
        return {node.value}, set()
    if isinstance(node, ast.IfExp):
        a, pa = _strings(node.body)
        b, pb = _strings(node.orelse)
        return a | b, pa | pb
    if isinstance(node, ast.BoolOp):
        found, prefixes = set(), set()
        for value in node.values:
            f, p = _strings(value)
            found, prefixes = found | f, prefixes | p
        return found, prefixes
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return set(), {node.values[0].value}
    return set(), set()


def emitted() -> tuple[set[str], set[str]]:
    topics, prefixes = set(), set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or "node" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                found: list = []
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                    found += [kw.value for kw in node.keywords if kw.arg == "topic"]
                    if name in {"_event", "OutboxEvent", "_payment_event"} and node.args:
                        found += node.args[:2]
                elif isinstance(node, ast.Assign) and any(
                    getattr(t, "id", "") == "topic" for t in node.targets
                ):
                    found.append(node.value)
                elif (
                    isinstance(node, ast.Assign)
                    and any(getattr(t, "id", "") == "TOPICS" for t in node.targets)
                    and isinstance(node.value, ast.Dict)
                ):
                    found += node.value.values
                for expression in found:
                    t, p = _strings(expression)
                    topics |= t
                    prefixes |= p
    return topics, prefixes


def test_every_emitted_topic_is_in_the_catalogue():
    topics, prefixes = emitted()

    assert len(topics) >= 30, sorted(topics)
    assert sorted(topics - set(CATALOGUE)) == []
    for prefix in prefixes:  # f"offline.redemption_{state}": settled and flagged
        assert any(name.startswith(prefix) for name in CATALOGUE), prefix


def test_every_catalogue_type_is_emitted_somewhere():
    topics, prefixes = emitted()
    unused = {
        n for n in CATALOGUE if n not in topics and not any(n.startswith(p) for p in prefixes)
    }
    assert unused == set()


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_each_type_documents_its_payload_without_floats(name):
    entry = CATALOGUE[name]
    assert entry.fields and entry.example and entry.version >= 1 and entry.audience

    def floats(value):
        if isinstance(value, float):
            return [value]
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return []

    assert floats(entry.example) == []
    assert {"state", "status"} & set(entry.fields)  # the object's state: no follow-up request
    for key, value in entry.example.items():
        if key == "amount" and value is not None:
            assert re.fullmatch(r"-?\d+\.\d+", value)
            assert "amount_units" in entry.example


def test_docs_events_md_is_rendered_from_the_catalogue():
    text = (ROOT / "docs" / "events.md").read_text()
    assert catalogue_markdown() in text, "run: python -m notifications.catalogue > part of docs"
    for name in CATALOGUE:
        assert f"### `{name}`" in text
    json.loads(json.dumps([t.example for t in CATALOGUE.values()]))
