#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses into OUT/<harness>/ (python3 standard library
only). Seeds come from the test fixtures (tests/data) where they are small enough, and are made
here otherwise: valid files of each format, so that the fuzzer starts from inputs that reach
the deep checks. usage: make_seeds.py OUT"""
import gzip, json, os, shutil, struct, sys, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
OUT = sys.argv[1]


def put(h, name, data):
    d = os.path.join(OUT, h)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, meta=True):
    """tensors: list of (name, dtype, shape, bytes)."""
    hdr, off, blob = {}, 0, b""
    if meta:
        hdr["__metadata__"] = {"format": "pt"}
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    j = json.dumps(hdr, separators=(",", ":")).encode()
    j += b" " * ((8 - len(j) % 8) % 8)
    return struct.pack("<Q", len(j)) + j + blob


# ---- safetensors: small valid files of each dtype; the real fixtures' headers with tiny data
size = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
put("fuzz_safetensors", "dtypes.safetensors",
    safetensors([(f"t_{dt}", dt, [2, 3], bytes(range(6 * n))) for dt, n in size.items()]))
put("fuzz_safetensors", "scalar.safetensors", safetensors([("logit_scale", "F32", [], struct.pack("<f", 4.6))]))
put("fuzz_safetensors", "empty.safetensors", safetensors([], meta=False))
for model in ("tiny-gelu", "tiny-quickgelu"):
    with open(os.path.join(DATA, model, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    hdr.pop("__metadata__", None)
    names = sorted(hdr)
    # every tensor of the real header, each shrunk to its first dimension only
    ts = [(k, "F16", hdr[k]["shape"][-1:] if hdr[k]["shape"] else [], b"\x00\x3c" * (hdr[k]["shape"][-1] if hdr[k]["shape"] else 1)) for k in names]
    put("fuzz_safetensors", f"{model}-shrunk.safetensors", safetensors(ts))
# OpenAI names (arch_from_tensors derives the sizes from these shapes)
W, L = 8, 1
oa = [("positional_embedding", [77, W]), ("token_embedding.weight", [49408 // 64, W]), ("ln_final.weight", [W]),
      ("text_projection", [W, W]), ("logit_scale", []), ("visual.conv1.weight", [W, 3, 4, 4]),
      ("visual.class_embedding", [W]), ("visual.positional_embedding", [5, W]), ("visual.proj", [W, W]),
      ("visual.ln_post.weight", [W]), ("transformer.resblocks.0.attn.in_proj_weight", [3 * W, W]),
      ("visual.transformer.resblocks.0.attn.in_proj_weight", [3 * W, W]),
      ("visual.layer1.0.conv1.weight", [W, W, 1, 1]), ("visual.attnpool.positional_embedding", [5, W])]
def numel(s):
    n = 1
    for d in s:
        n *= d
    return n
put("fuzz_safetensors", "openai.safetensors", safetensors([(k, "F16", s, b"\x00\x3c" * numel(s)) for k, s in oa]))

# ---- config.json / preprocessor_config.json / open_clip_config.json
for rel in ("tiny-gelu/config.json", "tiny-quickgelu/config.json", "synth-vit-b-32/config.json",
            "pull/preprocessor_config.json"):
    with open(os.path.join(DATA, rel), "rb") as f:
        put("fuzz_config", rel.replace("/", "_"), f.read())
put("fuzz_config", "openclip_vit.json", json.dumps({
    "model_cfg": {"embed_dim": 512, "quick_gelu": True,
                  "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                       "size": 224}}, indent=1))
put("fuzz_config", "openclip_rn50.json", json.dumps({
    "embed_dim": 1024, "quick_gelu": True,
    "vision_cfg": {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": None},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}))
put("fuzz_config", "preproc_int.json", '{"crop_size": 224, "size": 224, "image_mean": [0.5,0.5,0.5], "image_std": [0.5,0.5,0.5]}')
put("fuzz_config", "nested.json", '{"text_config": {"hidden_act": "gelu", "layer_norm_eps": 1e-5}, "vision_config": null}')

# open_clip_config.json seeds: the same JSON files
for name in sorted(os.listdir(os.path.join(OUT, "fuzz_config"))):
    with open(os.path.join(OUT, "fuzz_config", name), "rb") as f:
        put("fuzz_openclip", name, f.read())

# ---- tokenizer: the fixtures' texts, one seed each (capped)
texts = []
for rel in ("tokenizer/cases.json", "tokenizer/extra_cases.json"):
    with open(os.path.join(DATA, rel), encoding="utf-8") as f:
        j = json.load(f)
    items = j if isinstance(j, list) else j.get("cases", list(j.values()))
    for it in items:
        t = it.get("text") if isinstance(it, dict) else it if isinstance(it, str) else None
        if isinstance(t, str):
            texts.append(t)
for i, t in enumerate(texts[:400]):
    put("fuzz_tokenizer", f"case{i:04d}.txt", t.encode("utf-8", "surrogatepass")[:4096])
put("fuzz_tokenizer", "bad_utf8.txt", b"caf\xc3 \xff\xfe \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\x80 &amp;&#x110000;&#0;")
put("fuzz_tokenizer", "mojibake.txt", "Ã©tÃ© â€œquotedâ€\x9d".encode())

# ---- BPE vocabulary: the embedded one cut to what CLIP reads, plain and gzip
with gzip.open(os.path.join(ROOT, "host", "data", "bpe_simple_vocab_16e6.txt.gz"), "rb") as f:
    lines = f.read().split(b"\n")
head = b"\n".join(lines[:48895]) + b"\n"
put("fuzz_bpe", "vocab.txt", head)
put("fuzz_bpe", "vocab.txt.gz", gzip.compress(head, 9))
put("fuzz_bpe", "short.txt", b"\n".join(lines[:100]) + b"\n")

# ---- images: the small fixtures (all formats and modes)
for d in ("images/synth", "images"):
    for name in sorted(os.listdir(os.path.join(DATA, d))):
        p = os.path.join(DATA, d, name)
        if os.path.isfile(p) and os.path.getsize(p) <= 20000 and not name.endswith(".txt"):
            with open(p, "rb") as f:
                put("fuzz_image", name, f.read())

# ---- .npy: numpy.save's layout for float32 2-D arrays, versions 1.0 and 2.0
def npy(rows, cols, ver=1, descr="<f4", fortran=False):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }" % (descr, fortran, rows, cols)
    pre = 10 if ver == 1 else 12
    total = (pre + len(d) + 1 + 63) // 64 * 64
    d = d + " " * (total - pre - len(d) - 1) + "\n"
    h = b"\x93NUMPY" + bytes([ver, 0]) + (struct.pack("<H", len(d)) if ver == 1 else struct.pack("<I", len(d)))
    return h + d.encode() + struct.pack("<%df" % (rows * cols), *[0.25 * i for i in range(rows * cols)])
put("fuzz_npy", "v1.npy", npy(3, 4))
put("fuzz_npy", "v2.npy", npy(2, 2, ver=2))
put("fuzz_npy", "empty.npy", npy(0, 512))
put("fuzz_npy", "fortran.npy", npy(1, 2, fortran=True))
put("fuzz_npy", "f8.npy", npy(1, 2, descr="<f8"))

# ---- index: the layout of host/cli/index_file.h
def index(entries, E=4):
    mpath, rpath = b"/models/tiny", b"/photos"
    table = mpath + rpath
    for p, sz, mt in entries:
        table += struct.pack("<IIQq", len(p), 0, sz, mt) + p
    moff = (64 + len(table) + 63) // 64 * 64
    body = table + b"\0" * (moff - 64 - len(table))
    mat = b"".join(struct.pack("<%df" % E, *([0.5] * E)) for _ in entries)
    h = bytearray(b"CLIPCLIX" + struct.pack("<IIQQQqII", 1, E, len(entries), moff, 12345, 10 ** 18, len(mpath), len(rpath)) + b"\0" * 8)
    crc = zlib.crc32(bytes(h) + body + mat)
    h[56:60] = struct.pack("<I", crc)
    return bytes(h) + body + mat
put("fuzz_index", "three.clipclix", index([(b"a.png", 10, 1), (b"dir/b.jpg", 20, 2), (b"dir/c.gif", 30, 3)]))
put("fuzz_index", "empty.clipclix", index([]))

# ---- kernel cache entries, keyed as fuzz_kcache.c expects
KEY = b"clipcl fuzz\nplatform p\ndevice d\ndriver 1\noptions -cl-std=CL1.2\n__kernel void k() {}\n"
def kc(binary, key=KEY):
    return b"CLIPCLKB" + struct.pack("<IQ", 1, len(key)) + key + struct.pack("<Q", len(binary)) + binary
put("fuzz_kcache", "entry.bin", kc(b"\x7fELF" + bytes(range(200))))
put("fuzz_kcache", "other_key.bin", kc(b"BC\xc0\xde", key=KEY.replace(b"k()", b"j()")))
