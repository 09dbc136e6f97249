"""Prompt rules: which words, phrases or patterns block a prompt or flag its images for review.

Pure matching, no Django: rules come in as ``Rule`` values (from the admin's PromptRule rows and from
``STUDIO_PROMPT_BLOCKLIST``, see ``generation.selectors.prompt_rules_active``). Text and patterns are compared
case- and accent-insensitively (Unicode NFKD with the combining marks dropped, then casefolded) and only on
word boundaries, so "ass" never matches "class" and "Café" matches "cafe". Regular expressions run on the
``regex`` module with a time limit, so an admin's pattern cannot hang a web process.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import regex

BLOCK = "block"
FLAG = "flag"
WORD = "word"
PHRASE = "phrase"
REGEX = "regex"

MAX_PATTERN_LENGTH = 300
# Seconds one regular expression may spend on one prompt (prompts are at most 1,000 characters).
REGEX_TIMEOUT = 0.05


class RuleError(ValueError):
    """A rule's pattern cannot be used; the message says why, fit to show an admin."""


@dataclass(frozen=True)
class Rule:
    pattern: str
    kind: str  # WORD, PHRASE or REGEX
    category: str  # a label: "Brand safety", "Competitor", "Legal", "Unsafe", "Operator blocklist"
    action: str  # BLOCK or FLAG
    rule_id: int | None = None  # the PromptRule row, None for the environment's blocklist


@dataclass(frozen=True)
class Match:
    rule: Rule
    field: str  # "prompt" or "negative prompt"
    text: str  # the words that matched, as the user wrote them

    def as_flag(self) -> dict:
        """How a flag is stored with a request and its assets (JSON)."""
        return {
            "source": "prompt rule",
            "rule": self.rule.rule_id,
            "pattern": self.rule.pattern,
            "category": self.rule.category,
            "field": self.field,
            "matched": self.text,
        }


@dataclass(frozen=True)
class Verdict:
    blocked: tuple[Match, ...] = ()
    flagged: tuple[Match, ...] = ()

    @property
    def message(self) -> str:
        """Why the prompt is refused, naming the category and the words, fit to show the user."""
        parts = [f'{match.rule.category}: "{match.text}" in the {match.field}' for match in self.blocked]
        return "This prompt is not allowed (" + "; ".join(parts) + "). Rephrase it and try again."


def _kept(char: str) -> bool:
    # Accents go, and so do invisible format characters (zero-width spaces and joiners, soft hyphens) that
    # would otherwise split a word a rule should see.
    return not unicodedata.combining(char) and unicodedata.category(char) != "Cf"


def normalise(text: str) -> str:
    """Casefolded, without accents or invisible characters: what rules and prompts are compared as."""
    return "".join(char for char in unicodedata.normalize("NFKD", text) if _kept(char)).casefold()


def _positions(text: str) -> tuple[str, list[int]]:
    """``normalise(text)`` and, for each of its characters, the index of the character it came from."""
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in unicodedata.normalize("NFKD", char):
            if not _kept(piece):
                continue
            for folded in piece.casefold():
                out.append(folded)
                origin.append(index)
    return "".join(out), origin


@lru_cache(maxsize=1024)
def compile_rule(pattern: str, kind: str):
    """The compiled matcher for a rule; RuleError for an empty, over-long or broken pattern."""
    if not pattern.strip():
        raise RuleError("The pattern is empty.")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RuleError(f"The pattern is over {MAX_PATTERN_LENGTH} characters.")
    if kind == WORD:
        if len(pattern.split()) != 1:
            raise RuleError("A word rule is one word; use a phrase rule for several.")
        body = regex.escape(normalise(pattern.strip()))
    elif kind == PHRASE:
        # Any run of spaces in the prompt matches a space in the phrase.
        body = r"\s+".join(regex.escape(normalise(word)) for word in pattern.split())
    elif kind == REGEX:
        body = normalise(pattern)
    else:
        raise RuleError(f"Unknown rule kind {kind!r}.")
    try:
        regex.compile(body)  # alone first, so an error's position is in the admin's own pattern
        compiled = regex.compile(rf"(?<!\w)(?:{body})(?!\w)", regex.IGNORECASE | regex.UNICODE | regex.V0)
    except regex.error as error:
        raise RuleError(f"The regular expression does not compile: {error}.") from None
    if compiled.fullmatch("", timeout=REGEX_TIMEOUT) is not None:
        raise RuleError("The pattern matches empty text, so it would match every prompt.")
    return compiled


def check(rules: list[Rule], *, prompt: str, negative_prompt: str = "") -> Verdict:
    """Every rule against the prompt and the negative prompt; blocking matches first."""
    blocked: list[Match] = []
    flagged: list[Match] = []
    for field, text in (("prompt", prompt), ("negative prompt", negative_prompt)):
        if not text:
            continue
        normalised, origin = _positions(text)
        for rule in rules:
            try:
                found = compile_rule(rule.pattern, rule.kind).search(normalised, timeout=REGEX_TIMEOUT)
            except RuleError:
                continue  # validated on save; an environment entry that cannot compile matches nothing
            except TimeoutError:
                # A pattern too slow to decide counts as a match: refusing beats letting it through.
                matched = "(the rule was too slow to check)"
            else:
                if found is None:
                    continue
                matched = text[origin[found.start()] : origin[found.end() - 1] + 1]
            (blocked if rule.action == BLOCK else flagged).append(Match(rule, field, matched))
    return Verdict(blocked=tuple(blocked), flagged=tuple(flagged))


def blocklist_rules(phrases: list[str]) -> list[Rule]:
    """``STUDIO_PROMPT_BLOCKLIST``: each comma-separated entry is a phrase that blocks."""
    return [
        Rule(pattern=phrase.strip(), kind=PHRASE, category="Operator blocklist", action=BLOCK)
        for phrase in phrases
        if phrase.strip()
    ]


def describe_flags(flags: list[dict]) -> str:
    """Stored flags (prompt rules and the safety checker) as one line for people."""
    parts = []
    for flag in flags:
        if flag.get("source") == "prompt rule":
            parts.append(
                f'{flag.get("category")}: "{flag.get("matched")}" in the {flag.get("field", "prompt")}'
            )
        else:
            parts.append(
                f"{flag.get('category', 'Unsafe')}: {flag.get('matched') or 'flagged by the safety checker'}"
            )
    return "; ".join(parts)
