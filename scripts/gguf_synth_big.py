#!/usr/bin/python3
"""Random-weight GGUF files at ~1B scale for the non-llama families, big matrices in Q8_0.

Used for decode-throughput measurements against the memory-bandwidth roof; the numbers the
models compute are meaningless, but every tensor name, shape, type and key is what the GGUF
converters (and a quantizer to Q8_0) write, so an engine does the same work as on a real model.
The tokenizer.* keys are copied from a vocabulary-only GGUF.

Design: the header (keys + tensor infos with offsets) is computed from the shape list first, then
tensor data is streamed one tensor at a time, each quantized in row chunks, so peak memory is a
few hundred MB however large the file. Matrices are Q8_0 (blocks of 32: fp16 d = amax/127, then
32 int8 round(x/d)); norms, biases and the MoE routers stay F32 as a real quantizer leaves them.

usage:
  gguf_synth_big.py gen VOCAB.gguf FAMILY OUT.gguf [--seed N]
  gguf_synth_big.py stats FILE.gguf [--json]     params, active params, bytes read per token
FAMILY: qwen2 | phi3 | gemma2 | mixtral | qwen2moe   (see FAMILIES)

Bytes per token follows the loader's rule (pg_model_weight_bytes, src/model/model.c): every
tensor once, token_embd only one row (all of it, once, when the output is tied to it), and each
expert tensor scaled by expert_used_count / expert_count.
"""
import json, os, struct, sys
import numpy as np

sys.path.insert(0, "/work/shared/tools")
from gguf_synth import read_kv, w_str, w_val  # noqa: E402  (shared GGUF key helpers)

# Shapes. n_vocab comes from the vocabulary file. hd = head dim (None: n_embd / n_head).
FAMILIES = {
    # Qwen2.5-1.5B shape: QKV biases, tied output, rope base 1e6.
    "qwen2": dict(arch="qwen2", E=1536, L=28, H=12, HKV=2, hd=None, FF=8960, ctx=32768,
                  rope=1e6, eps=1e-6, tied=True),
    # phi-3-mini layout (fused qkv and gate/up, untied) reduced to ~1.1B params.
    "phi3": dict(arch="phi3", E=2048, L=20, H=32, HKV=32, hd=None, FF=5632, ctx=4096,
                 rope=1e4, eps=1e-5, tied=False, swa=2047),
    # gemma-2-2b shape (head dim 256, soft-caps, window 4096 on even layers), small vocabulary.
    "gemma2": dict(arch="gemma2", E=2304, L=26, H=8, HKV=4, hd=256, FF=9216, ctx=8192,
                   rope=1e4, eps=1e-6, tied=True, swa=4096),
    # Mixtral layout (arch "llama" with experts): 8 experts, 2 used.
    "mixtral": dict(arch="llama", E=1024, L=16, H=16, HKV=4, hd=None, FF=2816, ctx=32768,
                    rope=1e6, eps=1e-5, tied=False, NE=8, NU=2),
    # Qwen1.5-MoE layout: 8 experts of n_ff 1408, 4 used, shared expert of n_ff 2816 with its gate.
    "qwen2moe": dict(arch="qwen2moe", E=1024, L=16, H=16, HKV=16, hd=None, FF=2816, ctx=32768,
                     rope=1e6, eps=1e-6, tied=False, NE=8, NU=4, FFE=1408, FFS=2816),
}

GGML_F32, GGML_Q8_0 = 0, 8
QK = 32


def layout(fam, n_vocab):
    """(keys, tensors): keys as (name, gguf type, value); tensors as (name, ne tuple, ggml type)."""
    c = FAMILIES[fam]
    a, E, L, H, HKV = c["arch"], c["E"], c["L"], c["H"], c["HKV"]
    hd = c["hd"] or E // H
    Dq, Dkv = hd * H, hd * HKV
    kv = [("general.architecture", 8, a), ("general.name", 8, "synthetic-big-" + fam),
          ("general.file_type", 4, 7), ("general.alignment", 4, 32)]

    def k(name, t, v):
        kv.append((f"{a}.{name}", t, v))
    k("context_length", 4, c["ctx"]); k("embedding_length", 4, E); k("block_count", 4, L)
    k("feed_forward_length", 4, c["FF"]); k("attention.head_count", 4, H)
    k("attention.head_count_kv", 4, HKV); k("attention.layer_norm_rms_epsilon", 6, c["eps"])
    k("rope.freq_base", 6, c["rope"]); k("rope.dimension_count", 4, hd)
    if c["hd"]:
        k("attention.key_length", 4, hd); k("attention.value_length", 4, hd)
    if "swa" in c: k("attention.sliding_window", 4, c["swa"])
    if fam == "gemma2":
        k("attn_logit_softcapping", 6, 50.0); k("final_logit_softcapping", 6, 30.0)
    if "NE" in c:
        k("expert_count", 4, c["NE"]); k("expert_used_count", 4, c["NU"])
    if fam == "qwen2moe":
        k("expert_feed_forward_length", 4, c["FFE"]); k("expert_shared_feed_forward_length", 4, c["FFS"])
    if a == "llama": k("vocab_size", 4, n_vocab)

    Q, F = GGML_Q8_0, GGML_F32
    T = [("token_embd.weight", (E, n_vocab), Q), ("output_norm.weight", (E,), F)]
    if not c["tied"]: T.append(("output.weight", (E, n_vocab), Q))
    for i in range(L):
        p = f"blk.{i}."
        T.append((p + "attn_norm.weight", (E,), F))
        if fam == "phi3":
            T.append((p + "attn_qkv.weight", (E, Dq + 2 * Dkv), Q))
        else:
            T += [(p + "attn_q.weight", (E, Dq), Q), (p + "attn_k.weight", (E, Dkv), Q),
                  (p + "attn_v.weight", (E, Dkv), Q)]
        if a in ("qwen2", "qwen2moe"):
            T += [(p + "attn_q.bias", (Dq,), F), (p + "attn_k.bias", (Dkv,), F), (p + "attn_v.bias", (Dkv,), F)]
        T.append((p + "attn_output.weight", (Dq, E), Q))
        if fam == "gemma2": T.append((p + "post_attention_norm.weight", (E,), F))
        T.append((p + "ffn_norm.weight", (E,), F))
        if fam == "phi3":
            T += [(p + "ffn_up.weight", (E, 2 * c["FF"]), Q), (p + "ffn_down.weight", (c["FF"], E), Q)]
        elif "NE" in c:
            ne, fe = c["NE"], c.get("FFE", c["FF"])
            T += [(p + "ffn_gate_inp.weight", (E, ne), F), (p + "ffn_gate_exps.weight", (E, fe, ne), Q),
                  (p + "ffn_down_exps.weight", (fe, E, ne), Q), (p + "ffn_up_exps.weight", (E, fe, ne), Q)]
            if fam == "qwen2moe":
                s = c["FFS"]
                T += [(p + "ffn_gate_inp_shexp.weight", (E,), F), (p + "ffn_gate_shexp.weight", (E, s), Q),
                      (p + "ffn_down_shexp.weight", (s, E), Q), (p + "ffn_up_shexp.weight", (E, s), Q)]
        else:
            T += [(p + "ffn_gate.weight", (E, c["FF"]), Q), (p + "ffn_up.weight", (E, c["FF"]), Q),
                  (p + "ffn_down.weight", (c["FF"], E), Q)]
        if fam == "gemma2": T.append((p + "post_ffw_norm.weight", (E,), F))
    return kv, T


def nbytes(ne, t):
    n = int(np.prod(ne))
    if t == GGML_F32: return 4 * n
    if t == GGML_Q8_0:
        assert ne[0] % QK == 0, ne
        return n // QK * (2 + QK)
    raise ValueError(t)


def q8_0(x):
    """x: float32 [nb*32] -> Q8_0 bytes (per block: fp16 d, 32 int8)."""
    b = x.reshape(-1, QK)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    q = np.rint(b * inv).astype(np.int8)
    out = np.empty((b.shape[0], 2 + QK), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def write_tensor(f, rng, name, ne, t):
    n = int(np.prod(ne))
    if t == GGML_F32:
        if "norm" in name and "shexp" not in name:
            data = (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)
        elif name.endswith(".bias"):
            data = (0.1 * rng.standard_normal(n)).astype(np.float32)
        else:
            data = (0.02 * rng.standard_normal(n)).astype(np.float32)
        b = data.tobytes(); f.write(b)
        return len(b)
    # Q8_0, streamed in chunks of whole rows (ne[0] is a multiple of 32) of ~8M values.
    row = ne[0]; rows = n // row; step = max(1, (8 << 20) // row); w = 0
    for r0 in range(0, rows, step):
        m = min(step, rows - r0) * row
        b = q8_0(rng.standard_normal(m, dtype=np.float32) * np.float32(0.02))
        f.write(b); w += len(b)
    return w


def gen(vocab, fam, out, seed):
    tok = [(k, t, v) for k, t, v in read_kv(vocab) if k.startswith("tokenizer.")]
    n_vocab = len(dict((k, v) for k, t, v in tok)["tokenizer.ggml.tokens"][1])
    kv, T = layout(fam, n_vocab)
    kv += tok
    rng = np.random.default_rng(seed)
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        f.write(b"GGUF"); f.write(struct.pack("<IQQ", 3, len(T), len(kv)))
        for key, t, v in kv:
            w_str(f, key); f.write(struct.pack("<I", t)); w_val(f, t, v)
        off = 0
        for name, ne, t in T:
            w_str(f, name); f.write(struct.pack("<I", len(ne)))
            for d in ne: f.write(struct.pack("<Q", d))
            f.write(struct.pack("<IQ", t, off)); off += (nbytes(ne, t) + 31) // 32 * 32
        f.write(b"\0" * ((-f.tell()) % 32))
        for name, ne, t in T:
            w = write_tensor(f, rng, name, ne, t)
            assert w == nbytes(ne, t), name
            f.write(b"\0" * ((-w) % 32))
    os.replace(tmp, out)
    print(out, "written:", fam, "vocab", n_vocab, "bytes", os.path.getsize(out))


def read_header(path):
    """(kv dict of scalar/string values, [(name, ne, type)]) from a GGUF file's header."""
    with open(path, "rb") as fh:
        b = fh.read(64 << 20)  # header incl. the vocabulary arrays fits well within 64 MB here
    o = 0

    def u(fmt):
        nonlocal o
        v = struct.unpack_from(fmt, b, o); o += struct.calcsize(fmt); return v[0]

    def s():
        nonlocal o
        n = u("<Q"); v = b[o:o + n]; o += n; return v.decode("utf-8", "replace")
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    fmts = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def val(t):
        nonlocal o
        if t == 8: return s()
        if t == 9:
            et = u("<I"); n = u("<Q")
            if et in sizes: o += n * sizes[et]
            else:
                for _ in range(n): val(et)
            return None
        return u(fmts[t])
    assert b[:4] == b"GGUF"; o = 4
    u("<I"); nt = u("<Q"); nkv = u("<Q")
    kv = {}
    for _ in range(nkv):
        k = s(); t = u("<I"); kv[k] = val(t)
    T = []
    for _ in range(nt):
        name = s(); nd = u("<I"); ne = tuple(u("<Q") for _ in range(nd)); t = u("<I"); u("<Q")
        T.append((name, ne, t))
    return kv, T


def stats(path):
    kv, T = read_header(path)
    a = kv["general.architecture"]
    ne_ = kv.get(a + ".expert_count", 0); nu = kv.get(a + ".expert_used_count", 0)
    names = {n for n, _, _ in T}
    tied = "output.weight" not in names
    params = active = 0; tensor_bytes = bpt = 0
    for name, ne, t in T:
        n = int(np.prod(ne)); nb = nbytes(ne, t)
        params += n; tensor_bytes += nb
        if name == "token_embd.weight":
            # one row per token; when tied, the output pass reads the whole matrix (the loader
            # then counts it once, the row included)
            bpt += nb if tied else nbytes(ne[:1], t)
            active += n if tied else ne[0]
        elif "_exps." in name:
            bpt += nb * nu // ne_; active += n * nu // ne_
        else:
            bpt += nb; active += n
    return dict(file=path, arch=a, params=params, active_params=active, tensor_bytes=tensor_bytes,
                file_bytes=os.path.getsize(path), bytes_per_token=bpt, experts=ne_, experts_used=nu,
                tied_output=tied)


def main():
    a = sys.argv[1:]
    if a[:1] == ["gen"]:
        seed = 1
        if "--seed" in a:
            i = a.index("--seed"); seed = int(a[i + 1]); del a[i:i + 2]
        if len(a) != 4 or a[2] not in FAMILIES: raise SystemExit(__doc__)
        gen(a[1], a[2], a[3], seed)
    elif a[:1] == ["stats"] and len(a) in (2, 3):
        st = stats(a[1])
        if "--json" in a: print(json.dumps(st))
        else:
            for k, v in st.items(): print(f"{k}: {v}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
