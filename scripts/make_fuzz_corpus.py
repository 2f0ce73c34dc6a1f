#!/usr/bin/env python3
"""Write the seed corpus of the GGUF fuzzer (fuzz/corpus/).

Small, deterministic files: `valid-*.seed` must open, `bad-*.seed` must be
rejected (tests/test_gguf.c checks both). They cover every metadata value
type, string arrays, nested arrays, several tensor types (float, legacy
quants, k-quants, a type pagoda does not compute with), alignment 32/64,
GGUF v2 and v3, and typical breakages.

usage: scripts/make_fuzz_corpus.py [OUT_DIR]   (default fuzz/corpus)
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f",
              BOOL: "B", U64: "Q", I64: "q", F64: "d"}

# ggml type id -> (block elements, block bytes)
TYPES = {"f32": (0, 1, 4), "f16": (1, 1, 2), "q4_0": (2, 32, 18), "q8_0": (8, 32, 34),
         "q4_K": (12, 256, 144), "q6_K": (14, 256, 210), "bf16": (30, 1, 2),
         "iq2_xxs": (16, 256, 66), "iq4_nl": (20, 32, 18)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(t, v):
    """Encode value v of type t; arrays are (elem_type, [values])."""
    if t == STRING:
        return gstr(v)
    if t == ARRAY:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(value(et, x) for x in items)
    return struct.pack("<" + SCALAR_FMT[t], v)


class File:
    def __init__(self, version=3, alignment=None):
        self.version = version
        self.kvs = []       # (key, type, value)
        self.tensors = []   # (name, dims, type name)
        self.alignment = alignment
        if alignment is not None:
            self.kvs.append(("general.alignment", U32, alignment))

    def kv(self, key, t, v):
        self.kvs.append((key, t, v))
        return self

    def tensor(self, name, dims, tname):
        self.tensors.append((name, dims, tname))
        return self

    def build(self):
        align = self.alignment or 32
        out = b"GGUF" + struct.pack("<IQQ", self.version, len(self.tensors), len(self.kvs))
        for k, t, v in self.kvs:
            out += gstr(k) + struct.pack("<I", t) + value(t, v)
        offset, sizes = 0, []
        for name, dims, tname in self.tensors:
            tid, blk, bsz = TYPES[tname]
            n = 1
            for d in dims:
                n *= d
            nbytes = n // blk * bsz
            out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            out += struct.pack("<IQ", tid, offset)
            sizes.append((offset, nbytes))
            offset += (nbytes + align - 1) // align * align
        if self.tensors:
            out += b"\0" * (-len(out) % align)
            data = bytearray()
            for off, nbytes in sizes:
                data += b"\0" * (off - len(data))
                data += bytes((i * 37 + off) & 0xFF for i in range(nbytes))
            out += bytes(data)
        return out


def llama_tiny(version=3, alignment=None):
    f = File(version, alignment)
    f.kv("general.architecture", STRING, "llama").kv("general.name", STRING, "tiny")
    f.kv("llama.context_length", U32, 128).kv("llama.embedding_length", U32, 32)
    f.kv("llama.block_count", U32, 1).kv("llama.attention.head_count", U32, 4)
    f.kv("llama.attention.layer_norm_rms_epsilon", F32, 1e-5).kv("llama.rope.freq_base", F32, 10000.0)
    toks = ["<unk>", "<s>", "</s>"] + ["t%d" % i for i in range(13)]
    f.kv("tokenizer.ggml.model", STRING, "llama")
    f.kv("tokenizer.ggml.tokens", ARRAY, (STRING, toks))
    f.kv("tokenizer.ggml.scores", ARRAY, (F32, [float(-i) for i in range(16)]))
    f.kv("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3] + [1] * 13))
    f.kv("tokenizer.ggml.bos_token_id", U32, 1).kv("tokenizer.ggml.eos_token_id", U32, 2)
    f.kv("tokenizer.chat_template", STRING, "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    f.tensor("token_embd.weight", [32, 16], "f32").tensor("output_norm.weight", [32], "f32")
    f.tensor("blk.0.attn_q.weight", [32, 4], "q8_0").tensor("blk.0.attn_k.weight", [32, 2], "q4_0")
    f.tensor("blk.0.ffn_up.weight", [256, 1], "q4_K").tensor("blk.0.ffn_down.weight", [256, 1], "q6_K")
    f.tensor("blk.0.attn_v.weight", [32, 2], "f16").tensor("blk.0.attn_norm.weight", [32], "bf16")
    return f


def all_types():
    f = File()
    f.kv("t.u8", U8, 200).kv("t.i8", I8, -100).kv("t.u16", U16, 60000).kv("t.i16", I16, -30000)
    f.kv("t.u32", U32, 4000000000).kv("t.i32", I32, -2000000000).kv("t.f32", F32, 1.5)
    f.kv("t.bool", BOOL, 1).kv("t.str", STRING, "h\u00e9llo").kv("t.u64", U64, 2**63 + 5)
    f.kv("t.i64", I64, -2**62).kv("t.f64", F64, -2.5)
    f.kv("t.empty", ARRAY, (U8, []))
    f.kv("t.nested", ARRAY, (ARRAY, [(I32, [1, 2, 3]), (STRING, ["a", "bb"]), (ARRAY, [(F64, [0.5])])]))
    f.kv("t.deep8", ARRAY, (ARRAY, [(ARRAY, [(ARRAY, [(ARRAY, [(ARRAY, [(ARRAY, [(ARRAY, [(U8, [7])])])])])])])]))
    f.kv("t.bools", ARRAY, (BOOL, [0, 1, 1]))
    f.kv("t.i64s", ARRAY, (I64, [-1, 0, 2**40]))
    return f


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus")
    os.makedirs(out, exist_ok=True)
    files = {}
    files["valid-empty.seed"] = File().build()
    files["valid-llama-tiny.seed"] = llama_tiny().build()
    files["valid-llama-tiny-v2.seed"] = llama_tiny(version=2).build()
    files["valid-align64.seed"] = llama_tiny(alignment=64).build()
    files["valid-all-types.seed"] = all_types().build()
    files["valid-vocab-only.seed"] = File().kv("general.architecture", STRING, "gpt2").kv(
        "tokenizer.ggml.model", STRING, "gpt2").kv(
        "tokenizer.ggml.tokens", ARRAY, (STRING, ["!", "\"", "#", "\u0120the", ""])).kv(
        "tokenizer.ggml.merges", ARRAY, (STRING, ["\u0120 t", "h e"])).build()
    files["valid-unsupported-type.seed"] = File().kv("general.architecture", STRING, "llama").tensor(
        "w", [256, 2], "iq2_xxs").tensor("v", [32], "iq4_nl").build()

    good = llama_tiny().build()
    files["bad-truncated-header.seed"] = good[:20]
    files["bad-truncated-kv.seed"] = good[:600]
    files["bad-truncated-data.seed"] = good[:-1]
    files["bad-magic.seed"] = b"GGUG" + good[4:]
    files["bad-version1.seed"] = good[:4] + struct.pack("<I", 1) + good[8:]
    files["bad-version99.seed"] = good[:4] + struct.pack("<I", 99) + good[8:]
    files["bad-kv-count.seed"] = good[:16] + struct.pack("<Q", 2**62) + good[24:]
    files["bad-align3.seed"] = llama_tiny(alignment=3).build()
    files["bad-align0.seed"] = File(alignment=0).build()
    f = File().kv("k", U32, 1).kv("k", U32, 2)
    files["bad-dup-key.seed"] = f.build()
    f = File().tensor("a", [32], "f32").tensor("a", [32], "f32")
    files["bad-dup-tensor.seed"] = f.build()
    deep = (U8, [1])
    for _ in range(9):
        deep = (ARRAY, [deep])
    files["bad-deep9.seed"] = File().kv("deep", ARRAY, deep).build()
    # Tensor infos with patched fields: type 99, n_dims 5, dim 0, misaligned offset.
    base = File().tensor("x.weight", [32, 2], "f32").build()
    info_at = base.index(b"x.weight") + 8  # n_dims follows the name
    def patch(b, at, fmt, v):
        return b[:at] + struct.pack(fmt, v) + b[at + struct.calcsize(fmt):]
    files["bad-type99.seed"] = patch(base, info_at + 4 + 16, "<I", 99)
    files["bad-ndims5.seed"] = patch(base, info_at, "<I", 5)
    files["bad-dim0.seed"] = patch(base, info_at + 4 + 8, "<Q", 0)
    files["bad-dims-overflow.seed"] = patch(patch(base, info_at + 4, "<Q", 2**40), info_at + 12, "<Q", 2**40)
    files["bad-offset-misaligned.seed"] = patch(base, info_at + 4 + 16 + 4, "<Q", 8)
    files["bad-offset-eof.seed"] = patch(base, info_at + 4 + 16 + 4, "<Q", 2**20)
    files["bad-block-multiple.seed"] = File().tensor("q", [32, 1], "q4_0").build().replace(
        struct.pack("<QQ", 32, 1), struct.pack("<QQ", 16, 2))
    files["bad-string-len.seed"] = patch(File().kv("s", STRING, "abc").build(), 24 + 9 + 4, "<Q", 2**40)
    files["bad-value-type.seed"] = patch(File().kv("s", U32, 5).build(), 24 + 8 + 1, "<I", 13)

    total = 0
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
        total += len(data)
    print("wrote %d files, %d bytes, to %s" % (len(files), total, out))


if __name__ == "__main__":
    main()
