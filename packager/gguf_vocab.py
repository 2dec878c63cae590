"""Tokenizers into GGUF: token lists, scores and types for BPE and SentencePiece vocabularies, specials, template.

gguf-py's SpecialVocab reads special ids, merges and the chat template; the token tables follow llama.cpp's
conventions (which added tokens are CONTROL, [PAD] filling, the pre-tokenizer name) and are written here.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from hashlib import sha256
from pathlib import Path
from typing import Any

import gguf

from tunesmith.errors import ModelError
from tunesmith.modelfiles.prompt import tokenizer_adds_bos
from tunesmith.tokenizer_folder import load_folder_tokenizer
from tunesmith.user_files import read_json_file

__all__ = ["vocab_row_count", "write_vocab"]

# llama.cpp recognises a BPE pre-tokenizer by the ids it gives this text (hashed); the names are its own.
_CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 "
    "333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= "
    "нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure "
    "I'll make it, 'D you like some tea? We'Ve a'lL"
)
_KNOWN_PRE_TOKENIZERS = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",  # Llama 3
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",  # SmolLM, SmolLM2
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",  # Qwen1.5, Qwen2, Qwen2.5
    "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2",  # Qwen3
    "b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
    "d30d75d9059f1aa2c19359de71047b3ae408c70875e8a3ccf8c5fba56c9d8af4": "qwen35",
    "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",  # Mistral Nemo
    "9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e": "falcon3",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
}


class _TokenType(IntEnum):
    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


def _looks_special(token: str) -> bool:
    # Some tokenizers mark chat tokens as non-special; llama.cpp treats these shapes as control tokens regardless.
    return (
        token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
        or (token.startswith("<|") and token.endswith("|>"))
        or (token.startswith("<｜") and token.endswith("｜>"))
        or (token.startswith("<unused") and token.endswith(">"))
    )


def write_vocab(writer: gguf.GGUFWriter, model_dir: Path, kind: str, config: dict[str, Any]) -> None:
    """Write the tokenizer of `model_dir` in the way family `kind` expects (see gguf_arch.Family.vocab)."""
    has_spm = (model_dir / "tokenizer.model").is_file()
    if kind == "llama":
        tokenizer_config = _read_json(model_dir / "tokenizer_config.json")
        if (prefix := tokenizer_config.get("add_prefix_space")) is not None:
            writer.add_add_space_prefix(prefix)
        if has_spm:
            _write_sentencepiece(writer, model_dir, config)
        elif not _write_llama_hf(writer, model_dir):
            _write_bpe(writer, model_dir, config)
        if config.get("vocab_size", 32000) == 49152:
            # llama.cpp's converter takes a 49152-token llama vocabulary for Granite, which adds no BOS.
            writer.add_add_bos_token(False)
    elif kind == "bpe" and has_spm:
        _write_sentencepiece(writer, model_dir, config)
    elif kind == "bpe":
        _write_bpe(writer, model_dir, config)
    elif kind in ("gemma1", "gemma", "gemma3"):
        if has_spm or kind != "gemma3":
            _write_sentencepiece(writer, model_dir, config)
            writer.add_add_space_prefix(False)
        else:
            _write_bpe(writer, model_dir, config)
        if kind == "gemma1":
            # Gemma's <end_of_turn> has id 107 in every Gemma vocabulary; llama.cpp stops on it.
            writer.add_eot_token_id(107)
    elif kind == "phi3":
        if _read_json(model_dir / "tokenizer_config.json").get("tokenizer_class") == "GPT2Tokenizer":
            _write_bpe(writer, model_dir, config)
        else:
            _write_sentencepiece(writer, model_dir, config, phi3=True)
    else:
        raise ValueError(f"unknown vocabulary kind {kind!r}")
    if gguf.Keys.Tokenizer.ADD_BOS not in writer.kv_data[0]:
        # Where the tokenizer files do not say, llama.cpp and Ollama's own engine guess differently; the GGUF says
        # what the Hugging Face tokenizer does, which is what training saw (tunesmith.modelfiles.prompt).
        writer.add_add_bos_token(_hf_adds_bos(model_dir))


def _hf_adds_bos(model_dir: Path) -> bool:
    return tokenizer_adds_bos(load_folder_tokenizer(model_dir))


def vocab_row_count(model_dir: Path, config: dict[str, Any]) -> int:
    """How many embedding rows the tokenizer really uses (Gemma 3 pads its embedding matrix beyond it)."""
    if (model_dir / "tokenizer.model").is_file():
        return len(_sentencepiece_table(model_dir, config)[0])
    tokenizer_json = _read_json(model_dir / "tokenizer.json")
    return len(tokenizer_json["model"]["vocab"]) + len(tokenizer_json.get("added_tokens", []))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return read_json_file(path, error=ModelError, hint="Fix the JSON syntax at that line, or save the tokenizer again.")


def _special_vocab(
    writer: gguf.GGUFWriter, model_dir: Path, *, n_vocab: int | None = None, merges: bool = False
) -> None:
    # gguf-py logs every post-processor detail it skips; those are not the user's concern.
    log = logging.getLogger("gguf.vocab")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        gguf.SpecialVocab(model_dir, load_merges=merges, n_vocab=n_vocab).add_to_gguf(writer, quiet=True)
    finally:
        log.setLevel(level)


def _write_llama_hf(writer: gguf.GGUFWriter, model_dir: Path) -> bool:
    """A SentencePiece-style BPE kept only as tokenizer.json; False when the tokenizer is of another kind."""
    try:
        vocab = gguf.LlamaHfVocab(model_dir)
    except (FileNotFoundError, TypeError):
        return False
    tokens, scores, types = zip(*vocab.all_tokens())
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(list(tokens))
    writer.add_token_scores(list(scores))
    writer.add_token_types(list(types))
    _special_vocab(writer, model_dir, n_vocab=len(tokens))
    return True


def _write_bpe(writer: gguf.GGUFWriter, model_dir: Path, config: dict[str, Any]) -> None:
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as err:  # the tokenizers library raises a bare Exception on bad files
        raise ModelError(
            f"cannot read the tokenizer: {err}",
            where=str(path),
            hint="Save the tokenizer again with `tokenizer.save_pretrained(DIR)`.",
        ) from err
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    vocab_size = config.get("vocab_size", len(vocab))
    if max(vocab.values()) >= vocab_size:
        raise ModelError(
            f"the tokenizer has ids up to {max(vocab.values())} but config.json says vocab_size={vocab_size}",
            where=str(model_dir / "config.json"),
            hint="Resize the model's embeddings to the tokenizer (`model.resize_token_embeddings`).",
        )
    added = tokenizer.get_added_tokens_decoder()
    by_id = {i: token for token, i in vocab.items()}
    tokens, types = [], []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(_TokenType.UNUSED)
        elif i in added:
            if not added[i].normalized:
                # llama.cpp expects added tokens pre-normalized: take what the tokenizer makes of them.
                token = tokenizer.decode(
                    tokenizer.encode(token, add_special_tokens=False).ids, skip_special_tokens=False
                )
            if added[i].special or _looks_special(token):
                types.append(_TokenType.CONTROL)
            else:
                token = token.replace("\u2581", " ")
                types.append(_TokenType.USER_DEFINED)
            tokens.append(token)
        else:
            tokens.append(token)
            types.append(_TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer_name(tokenizer, path))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    _special_vocab(writer, model_dir, merges=True)


def _pre_tokenizer_name(tokenizer: Any, path: Path) -> str:
    # llama.cpp's fingerprints are of `encode` with the tokenizer's special tokens (Llama 3's includes its BOS); a
    # tokenizer that only adds a BOS to a known split (a SmolLM2 tokenizer given Llama 3's post-processor) is known too.
    digests = [
        sha256(str(tokenizer.encode(_CHECK_TEXT, add_special_tokens=special).ids).encode()).hexdigest()
        for special in (True, False)
    ]
    digest = digests[0]
    name = next((_KNOWN_PRE_TOKENIZERS[d] for d in digests if d in _KNOWN_PRE_TOKENIZERS), None)
    if name is None:
        raise ModelError(
            f"unknown BPE pre-tokenizer (fingerprint {digest[:16]}…): llama.cpp would split text differently from "
            "the model's tokenizer",
            where=str(path),
            hint=f"Known pre-tokenizers: {', '.join(sorted(set(_KNOWN_PRE_TOKENIZERS.values())))}. Use the base "
            "model's original tokenizer files.",
        )
    return name


def _sentencepiece_table(model_dir: Path, config: dict[str, Any], *, phi3: bool = False):
    from sentencepiece import SentencePieceProcessor

    path = model_dir / "tokenizer.model"
    processor = SentencePieceProcessor()
    try:
        processor.LoadFromFile(str(path))
    except (OSError, RuntimeError) as err:
        raise ModelError(
            "cannot read the SentencePiece model",
            where=str(path),
            hint="The file is truncated or not a SentencePiece model; copy it from the base model.",
        ) from err
    real = processor.vocab_size()
    size = config.get("vocab_size") or real
    tokens = [f"[PAD{i}]".encode() for i in range(size)]
    scores = [-10000.0] * size
    types = [_TokenType.UNUSED] * size
    for i in range(min(real, size)):
        tokens[i] = processor.IdToPiece(i).encode("utf-8")
        scores[i] = processor.GetScore(i)
        types[i] = (
            _TokenType.UNKNOWN
            if processor.IsUnknown(i)
            else _TokenType.CONTROL
            if processor.IsControl(i)
            else _TokenType.UNUSED
            if processor.IsUnused(i)
            else _TokenType.BYTE
            if processor.IsByte(i)
            else _TokenType.NORMAL
        )

    def place(i: int, text: str, kind: _TokenType) -> None:
        if i < size:
            tokens[i], scores[i], types[i] = text.encode("utf-8"), -1000.0, kind

    for text, i in _read_json(model_dir / "added_tokens.json").items():
        place(i, text, _TokenType.USER_DEFINED)
    decoder = _read_json(model_dir / "tokenizer_config.json").get("added_tokens_decoder", {})
    if not decoder and not phi3:
        # transformers 5 keeps added tokens only in tokenizer.json; without them a chat marker such as Gemma's
        # <start_of_turn> would be split into characters by llama.cpp.
        decoder = {str(d["id"]): d for d in _read_json(model_dir / "tokenizer.json").get("added_tokens", [])}
    if phi3:
        # Phi-3's tokenizer.json lists its chat tokens; only the "special" flag makes them CONTROL.
        entries = [(int(i), d) for i, d in decoder.items()]
        entries += [(int(d["id"]), d) for d in _read_json(model_dir / "tokenizer.json").get("added_tokens", [])]
        for i, data in entries:
            place(i, data["content"], _TokenType.CONTROL if data.get("special") else _TokenType.USER_DEFINED)
    else:
        for key, data in decoder.items():
            text = data["content"]
            if data.get("special") or _looks_special(text):
                place(int(key), text, _TokenType.CONTROL)
            else:
                place(int(key), text.replace("\u2581", " "), _TokenType.USER_DEFINED)
    return tokens, scores, types


def _write_sentencepiece(
    writer: gguf.GGUFWriter, model_dir: Path, config: dict[str, Any], *, phi3: bool = False
) -> None:
    tokens, scores, types = _sentencepiece_table(model_dir, config, phi3=phi3)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    _special_vocab(writer, model_dir, n_vocab=len(tokens))
