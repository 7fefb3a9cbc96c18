#!/usr/bin/env python3
"""Writes the synthetic test images (tests/data/images/synth/) and the expected crops
(tests/data/preprocess/expected_extra.safetensors) used by tests/test_img.c.

Developer tool only: the tests read the files it wrote, never this script.
Needs Pillow 12.x (12.3.0 was used) and numpy. Pillow 13 runs the vertical resize pass first
for images whose height shrinks more than twice as much as their width; that changes
`tall_rgb` by a few levels. OpenAI's pipeline (Pillow <= 12) is horizontal first.

Expected value of every crop = OpenAI's CLIP preprocessing without the tensor steps,
written out as the torchvision code it is equivalent to:
    torchvision.transforms.Resize(S, interpolation=BICUBIC)   # PIL path: Image.resize
    torchvision.transforms.CenterCrop(S)
    img.convert("RGB")
(`openai_crop` below; checked to reproduce expected_224.safetensors byte for byte.)

Keys: "<path under tests/data/images>@<S>" → U8 [S, S, 3];
      "norm:<image>@64" → F32 [3, 64, 64], normalized pixels copied from the shared fixture
      tiny-quickgelu/reference.safetensors (pixel_values rows 0..3) and tiny-rn (row 1).
tests/data/images/MODES.txt lists the mode Pillow opens each image file in.
Usage: python3 make_extra.py /work/shared/fixtures
"""
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "..", "images")
SYNTH = os.path.join(IMAGES, "synth")


def openai_crop(im, S):
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = S, int(S * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):  # torchvision returns the image untouched then
        im = im.resize((new_w, new_h), Image.BICUBIC)
    top = int(round((new_h - S) / 2.0))
    left = int(round((new_w - S) / 2.0))
    im = im.crop((left, top, left + S, top + S))
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    dt = {"U8": np.uint8, "F32": np.float32, "I32": np.int32}
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return out


def write_st(path, tensors):
    names = sorted(tensors)
    header, off, blobs = {}, 0, []
    for k in names:
        a = np.ascontiguousarray(tensors[k])
        dt = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32"}[a.dtype]
        raw = a.tobytes()
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def content(w, h, c, seed, noise=25):
    """Smooth gradients, hard-edged saturated blocks (ringing and clipping) and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for i in range(c):
        v = 128 + 90 * np.sin(x / (3 + 5 * i) + y / (7 + 3 * i)) + 30 * np.cos((x + 2 * y) / 11)
        v += rng.normal(0, noise, size=(h, w))
        blk = ((x // 7 + y // 5 + i) % 3 == 0)
        v = np.where(blk, 255 if i % 2 == 0 else 0, v)
        chans.append(np.clip(np.rint(v), 0, 255))
    a = np.stack(chans, axis=-1).astype(np.uint8)
    return a[..., 0] if c == 1 else a


def alpha_plane(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = (x * 255 // max(w - 1, 1)).astype(np.int64)
    a = np.where((y // 6) % 4 == 0, 0, a)            # fully transparent bands
    a = np.where((y // 6) % 4 == 1, 255, a)          # opaque bands
    a = np.where((y // 6) % 4 == 2, rng.integers(0, 256, size=(h, w)), a)
    return a.astype(np.uint8)


def png_raw(path, w, h, bitdepth, colortype, samples, extra_chunks=()):
    """A PNG written by hand (Pillow cannot write 16-bit RGB(A)/LA)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    dt = ">u2" if bitdepth == 16 else "u1"
    rows = samples.reshape(h, -1).astype(dt)
    raw = b"".join(b"\0" + r.tobytes() for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0))
    for t, d in extra_chunks:
        data += chunk(t, d)
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)


def make_synth():
    os.makedirs(SYNTH, exist_ok=True)
    made = []  # (file, sizes)

    def save(im, name, sizes, **kw):
        im.save(os.path.join(SYNTH, name), **kw)
        made.append((name, sizes))

    # aspect ratios and crop offsets (odd remainders exercise round-half-to-even)
    save(Image.fromarray(content(40, 300, 3, 1)), "tall_rgb.png", [32, 40])
    save(Image.fromarray(content(300, 41, 3, 2)), "wide_rgb.png", [32, 41])
    save(Image.fromarray(content(1, 50, 3, 3)), "one_by_n.png", [16, 1])
    save(Image.fromarray(content(37, 1, 1, 4)), "n_by_one.png", [8])
    save(Image.fromarray(content(1, 1, 3, 5)), "one_pixel.png", [5])
    save(Image.fromarray(content(97, 61, 3, 6)), "odd_rgb.png", [32, 61, 64, 100])
    # 8×8 blocks of noise: a large downscale with hard edges that still compresses well
    big = np.repeat(np.repeat(content(100, 75, 3, 7), 8, axis=0), 8, axis=1)
    save(Image.fromarray(big), "big_rgb.png", [24, 224])
    # modes
    save(Image.fromarray(content(123, 77, 1, 8)), "grey_l.png", [64])
    l_t = Image.fromarray(content(70, 90, 1, 9))
    save(l_t, "grey_trns.png", [48], transparency=17)
    rgb_t = Image.fromarray(content(66, 50, 3, 10))
    save(rgb_t, "rgb_trns.png", [40], transparency=(255, 0, 255))
    la = np.stack([content(90, 70, 1, 11), alpha_plane(90, 70, 12)], -1)
    save(Image.fromarray(la, "LA"), "grey_la.png", [48, 70])
    rgba = np.concatenate([content(100, 61, 3, 13), alpha_plane(100, 61, 14)[..., None]], -1)
    save(Image.fromarray(rgba, "RGBA"), "rgba.png", [40, 61, 72])
    # already the crop size, and one side equal: no premultiply round trip vs. one
    sq = np.concatenate([content(48, 48, 3, 15), alpha_plane(48, 48, 16)[..., None]], -1)
    save(Image.fromarray(sq, "RGBA"), "rgba_square.png", [48, 40])
    pal = Image.fromarray(content(97, 130, 3, 17)).quantize(200)
    save(pal, "palette.png", [64, 97])
    pal_t = Image.fromarray(content(60, 45, 3, 18)).quantize(16)
    save(pal_t, "palette4_trns.png", [32], transparency=3, bits=4)
    save(Image.fromarray(content(80, 60, 1, 19)).convert("1"), "bilevel.png", [32, 90])
    g16 = (content(70, 50, 1, 20).astype(np.uint16) * 2 + 3)  # 3..513: some saturate
    save(Image.frombytes("I;16", (70, 50), g16.astype("<u2").tobytes()), "grey16.png", [40])
    png_raw(os.path.join(SYNTH, "rgb16.png"), 60, 45, 16, 2,
            content(60, 45, 3, 21).astype(np.uint16) * 257 + 100)
    made.append(("rgb16.png", [32]))
    la16 = np.stack([content(50, 60, 1, 22), alpha_plane(50, 60, 23)], -1).astype(np.uint16) * 257
    png_raw(os.path.join(SYNTH, "la16.png"), 50, 60, 16, 4, la16)
    made.append(("la16.png", [32]))
    # other formats
    gif = Image.fromarray(content(90, 70, 3, 24)).quantize(64)
    save(gif, "palette.gif", [32], transparency=5)
    save(Image.fromarray(content(70, 90, 1, 25)), "grey.gif", [32])
    save(Image.fromarray(content(77, 55, 3, 26)).quantize(100), "palette.bmp", [32])
    save(Image.fromarray(content(77, 55, 1, 27)), "grey.bmp", [32])
    save(Image.fromarray(content(77, 55, 3, 28)), "rgb.bmp", [32])
    save(Image.fromarray(content(64, 40, 1, 29)).convert("1"), "bilevel.bmp", [24])
    save(Image.fromarray(content(60, 50, 3, 30)).quantize(32), "palette.tga", [32])
    save(Image.fromarray(rgba[:50, :60].copy(), "RGBA"), "rgba.tga", [32])
    save(Image.fromarray(content(60, 50, 1, 31)), "grey.pgm", [32])
    save(Image.fromarray(content(60, 50, 3, 32)), "rgb.ppm", [32])
    save(Image.fromarray(content(120, 90, 1, 33)), "grey.jpg", [48], quality=92)
    # JPEG variants, each decoded by libjpeg-turbo as Pillow decodes it: chroma subsampling
    # with odd sizes (fancy upsampling at the edges), progressive, restart markers, CMYK
    # (Adobe-inverted; Pillow resizes CMYK and converts after)
    save(Image.fromarray(content(97, 61, 3, 34)), "rgb420_odd.jpg", [32, 61], quality=90)
    save(Image.fromarray(content(75, 52, 3, 35)), "rgb422.jpg", [40], quality=85, subsampling=1)
    save(Image.fromarray(content(66, 81, 3, 36)), "rgb444.jpg", [48], quality=95, subsampling=0)
    save(Image.fromarray(content(90, 70, 3, 37)), "progressive.jpg", [32], quality=80,
         progressive=True)
    save(Image.fromarray(content(83, 47, 3, 38)), "restart.jpg", [24], quality=88,
         restart_marker_blocks=3)
    save(Image.fromarray(content(70, 50, 4, 39), "CMYK"), "cmyk.jpg", [32, 50], quality=90)
    return made


def main():
    fixtures = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/fixtures"
    assert PIL.__version__.startswith("12."), "use Pillow 12 (see the docstring)"
    # the pipeline reproduces the shared ground truth
    e224 = read_st(os.path.join(fixtures, "preprocess", "expected_224.safetensors"))
    for k, v in e224.items():
        f = [n for n in os.listdir(IMAGES) if os.path.splitext(n)[0] == k][0]
        assert (openai_crop(Image.open(os.path.join(IMAGES, f)), 224) == v).all(), k

    out, modes = {}, []
    for f in sorted(os.listdir(IMAGES)):
        if os.path.isfile(os.path.join(IMAGES, f)) and f.endswith((".png", ".jpg")):
            modes.append(f"{f} {Image.open(os.path.join(IMAGES, f)).mode}")
    for name, sizes in make_synth():
        im = Image.open(os.path.join(SYNTH, name))
        modes.append(f"synth/{name} {im.mode}")
        for S in sizes:
            out[f"synth/{name}@{S}"] = openai_crop(Image.open(os.path.join(SYNTH, name)), S)
    for f in ["camera.png", "chelsea_rgba.png", "coffee_palette.png"]:
        out[f"{f}@336"] = openai_crop(Image.open(os.path.join(IMAGES, f)), 336)
    for f in sorted(os.listdir(IMAGES)):
        if os.path.isfile(os.path.join(IMAGES, f)) and f.endswith((".png", ".jpg")):
            out[f"{f}@64"] = openai_crop(Image.open(os.path.join(IMAGES, f)), 64)
    pv = read_st(os.path.join(fixtures, "tiny-quickgelu", "reference.safetensors"))["pixel_values"]
    for i, f in enumerate(["astronaut.png", "astronaut_small.jpg", "camera.png", "chelsea.png"]):
        out[f"norm:{f}@64"] = pv[i].copy()
    pv = read_st(os.path.join(fixtures, "tiny-rn", "reference.safetensors"))["pixel_values"]
    out["norm:coffee.png@64"] = pv[1].copy()
    write_st(os.path.join(HERE, "expected_extra.safetensors"), out)
    with open(os.path.join(IMAGES, "MODES.txt"), "w") as f:
        f.write("\n".join(modes) + "\n")
    print(len(out), "tensors;", "\n".join(modes))


if __name__ == "__main__":
    main()
