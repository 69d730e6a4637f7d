"""Every setting does what it says: each key kbroker declares (kbroker/config_keys.py, the KEYS table of
kbroker/config.py, kbroker/topic_config.py) is read by some code path, or listed as accepted without effect
(kbroker/config_effect.py, shown in docs/known-differences.md), never both; setting such a key warns at start-up.

"Read" is found in the source: a key's name used as a subscript, a call argument, in a comparison or in what a
loop walks, anywhere in kbroker/ outside the declaring tables (f-strings count as patterns:
f"compression.{codec}.level" reads the three level keys). A broker key is also read when it is the broker
synonym of a topic key that is read, a synonym kbroker.config resolves for a read key, or an alias of one.
"""
from __future__ import annotations

import ast
import logging
import re
from functools import lru_cache
from pathlib import Path

import pytest

from kbroker.config import _RESOLVE, ALIASES, KAFKA_KEYS, KEYS
from kbroker.config_effect import NO_EFFECT, no_effect_reason
from kbroker.testing import KafkaBroker
from kbroker.topic_config import TOPIC_KEYS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kbroker"
DECLARING = {"config_keys.py", "config.py", "config_effect.py"}  # tables only (topic_config.py: its functions count)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _uses(path: Path) -> tuple[set[str], list[re.Pattern[str]]]:
    """String constants (and f-string patterns) a module uses as keys: subscripts, call arguments, comparisons,
    loop iterables, both branches of a conditional expression. Module-level tables of topic_config.py are declarations, not reads."""
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    roots: list[ast.AST] = [tree]
    if path.name == "topic_config.py":
        roots = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    exact: set[str] = set()
    patterns: list[re.Pattern[str]] = []

    def take(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            exact.add(node.value)
        elif isinstance(node, ast.JoinedStr):
            literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if sum(c.isalpha() for c in literal) >= 4:  # f"{a}.{b}" would match every two-part key
                parts = [re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z0-9_]+" for v in node.values]
                patterns.append(re.compile("^" + "".join(parts) + "$"))
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for element in node.elts:
                take(element)

    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Subscript):
                take(node.slice)
            elif isinstance(node, ast.Call):
                for argument in node.args:
                    take(argument)
            elif isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    take(side)
            elif isinstance(node, (ast.For, ast.comprehension)):
                take(node.iter)
            elif isinstance(node, ast.IfExp):  # key = "a" if ... else "b": both are read where key is
                take(node.body)
                take(node.orelse)
    return exact, patterns


def declared() -> set[str]:
    return set(KAFKA_KEYS) | set(KEYS) | set(TOPIC_KEYS)


@lru_cache(maxsize=1)
def read_keys() -> frozenset[str]:
    exact: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in DECLARING or "testing" in path.relative_to(PACKAGE).parts:
            continue
        found, found_patterns = _uses(path)
        exact |= found
        patterns += found_patterns
    read = {k for k in declared() if k in exact or any(p.match(k) for p in patterns)}
    for name, spec in TOPIC_KEYS.items():
        if name in read:
            read |= {synonym for synonym, _ in spec.synonyms}
    for name, family in _RESOLVE.items():
        if name in read:
            read |= {synonym for synonym, _ in family}
    read |= {alias for alias, target in ALIASES.items() if target in read}
    return frozenset(read)


def test_the_walk_finds_reads_and_skips_declarations() -> None:
    """The walk itself: known reads are found (a subscript, a call, an f-string, a topic synonym), and the
    declaring tables alone do not make a key read."""
    read = read_keys()
    assert {"log.segment.bytes", "segment.bytes", "compression.zstd.level", "log.retention.hours",
            "broker.id", "group.consumer.max.size"} <= read
    assert "ssl.provider" not in read and "preallocate" not in read


@pytest.mark.parametrize("name", sorted(declared()))
def test_every_declared_key_is_read_or_listed_as_without_effect(name: str) -> None:
    read = name in read_keys()
    reason = no_effect_reason(name)
    assert read or reason, (f"{name} is accepted but nothing reads it: make it work, or list it in "
                            "kbroker/config_effect.py (and run python docs/gen_configuration.py)")
    assert not (read and reason), (f"{name} is read by kbroker/ but listed as without effect ({reason}): take it "
                                   "out of kbroker/config_effect.py")


def test_every_no_effect_entry_names_a_declared_key() -> None:
    import fnmatch

    keys = declared()
    stale = [p for p in NO_EFFECT if not fnmatch.filter(keys, p)]
    assert not stale, f"entries of kbroker/config_effect.py matching no key: {stale}"


def test_known_differences_lists_every_key_without_effect() -> None:
    text = (ROOT / "docs" / "known-differences.md").read_text()
    section = text[text.index("### Accepted, no effect"):]
    listed = set(re.findall(r"`([^`]+)`", section))
    assert set(NO_EFFECT) <= listed, sorted(set(NO_EFFECT) - listed)


def test_setting_a_key_without_effect_warns_once_at_start(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kbroker.config_effect")
    with KafkaBroker.start(config={"ssl.provider": "SunJSSE", "num.io.threads": 16,
                                   "log.segment.bytes": 1 << 20}):
        pass
    warnings = [r.getMessage() for r in caplog.records if r.name == "kbroker.config_effect"]
    assert len([w for w in warnings if w.startswith("ssl.provider ")]) == 1, warnings
    assert len([w for w in warnings if w.startswith("num.io.threads ")]) == 1, warnings
    assert not [w for w in warnings if "log.segment.bytes" in w], warnings
