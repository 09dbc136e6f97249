"""CLIP tokenizer files built from the real CLIP BPE vocabulary.

No model hub is reachable here, so the tokenizer of the tiny and default pipelines is made from the BPE merge
list that OpenAI published with CLIP and that the ``open_clip_torch`` wheel ships. The result is byte for byte
the vocabulary of ``openai/clip-vit-large-patch14``: real words become real tokens, not unknowns.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

BPE_FILENAME = "bpe_simple_vocab_16e6.txt.gz"
INSTALL_HINT = ".venv/bin/pip install --no-deps 'open_clip_torch>=3.3,<4'"
# CLIP keeps the first 48,894 merges: 256 byte tokens + 256 word-final byte tokens + merges + 2 specials
# make the 49,408-token vocabulary every CLIP text encoder expects.
CLIP_VOCAB_SIZE = 49408
# What a CLIP text encoder reads of a prompt, in tokens, its start and end tokens included.
CLIP_CONTEXT_TOKENS = 77
_MERGE_COUNT = CLIP_VOCAB_SIZE - 256 - 256 - 2


class ClipVocabularyMissingError(RuntimeError):
    pass


def find_clip_bpe_file() -> Path:
    """Locate the BPE file inside the installed open_clip package without importing it.

    Importing ``open_clip`` pulls in torchvision, which this project does not install; only the data file is
    needed, so the package is found through its import spec.
    """
    spec = importlib.util.find_spec("open_clip")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / BPE_FILENAME
        if candidate.is_file():
            return candidate
    raise ClipVocabularyMissingError(
        f"The CLIP BPE vocabulary ({BPE_FILENAME}) was not found. It ships in the open_clip_torch wheel; "
        f"install it without its dependencies (a plain install would replace torch): {INSTALL_HINT}"
    )


@cache
def _bytes_to_unicode() -> dict[int, str]:
    # The reversible byte-to-printable-character map used by CLIP and GPT-2 BPE.
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def clip_vocab_and_merges(bpe_file: Path | None = None) -> tuple[dict[str, int], list[str]]:
    """Return the CLIP vocabulary (token -> id) and the merge lines, in CLIP's order."""
    path = bpe_file or find_clip_bpe_file()
    with gzip.open(path) as compressed:
        lines = compressed.read().decode("utf-8").split("\n")
    merges = lines[1 : _MERGE_COUNT + 1]  # the first line is a version header
    byte_tokens = list(_bytes_to_unicode().values())
    tokens = byte_tokens + [token + "</w>" for token in byte_tokens]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    if len(tokens) != CLIP_VOCAB_SIZE:
        raise ClipVocabularyMissingError(f"{path} gave {len(tokens)} tokens, expected {CLIP_VOCAB_SIZE}.")
    return {token: index for index, token in enumerate(tokens)}, merges


def write_clip_tokenizer_files(directory: Path) -> None:
    """Write ``vocab.json`` and ``merges.txt`` for ``CLIPTokenizer.from_pretrained(directory, ...)``.

    Load with ``model_max_length=77``: without a tokenizer config the tokenizer does not know CLIP's
    context length.
    """
    vocab, merges = clip_vocab_and_merges()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer made from the vocabulary, knowing CLIP's context length."""
    # Imported here: the web process needs transformers only once someone's prompt is measured.
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as directory:
        write_clip_tokenizer_files(Path(directory))
        return CLIPTokenizer.from_pretrained(directory, model_max_length=CLIP_CONTEXT_TOKENS)
