"""How much of a prompt the model reads: a CLIP text encoder reads 77 tokens (75 of the prompt's, between its
start and end tokens) and ignores the rest. Counted with the real CLIP vocabulary, so nothing is cut silently:
the pages say which words fall past the limit."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from generation.engine.clip_vocab import CLIP_CONTEXT_TOKENS, clip_tokenizer

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

READ_TOKENS = CLIP_CONTEXT_TOKENS - 2


@dataclass(frozen=True)
class PromptReading:
    tokens: int  # the prompt's tokens, without the start and end tokens
    unread: str = ""  # the words from the first one the model does not (fully) read, "" when it reads all

    limit = READ_TOKENS


def read_prompt(text: str) -> PromptReading:
    """Count ``text``'s CLIP tokens and find the words past what the model reads."""
    tokenizer = _tokenizer()
    words = text.split()
    tokens = 0
    first_unread: int | None = None
    # CLIP splits words and punctuation within whitespace-separated pieces, so counting piece by piece gives
    # the whole prompt's count and says where the limit falls.
    for index, word in enumerate(words):
        tokens += len(tokenizer.tokenize(word))
        if first_unread is None and tokens > READ_TOKENS:
            first_unread = index
    unread = " ".join(words[first_unread:]) if first_unread is not None else ""
    return PromptReading(tokens=tokens, unread=unread)


@cache
def _tokenizer() -> CLIPTokenizer:
    return clip_tokenizer()
