#!/usr/bin/env python3
"""Generates host/labelsets_data.inc: the built-in zero-shot label sets and prompt templates.

Sources (both MIT, OpenAI CLIP; licence in host/data/LICENSE-openai-clip):
  host/data/prompts.md   26 datasets: `classes` and `templates` Python lists inside ```bash
                         blocks under `## Name` headings (FER2013 has a list of synonyms per class)
  host/data/imagenet.txt ImageNet-1k: `classes` (1000), `templates` (80), `templates_7` (the
                         7-template subset OpenAI found by forward selection), as Python assignments

Usage (from anywhere; paths are relative to the repository root):
  python3 scripts/gen_labelsets.py            write host/labelsets_data.inc
  python3 scripts/gen_labelsets.py --check    exit 1 if the committed .inc is not what the sources give
  python3 scripts/gen_labelsets.py --extract-imagenet NOTEBOOK.ipynb [--commit SHA]
      rewrite host/data/imagenet.txt from OpenAI's notebooks/Prompt_Engineering_for_ImageNet.ipynb

Every list is read with ast.literal_eval, so Python string literals (either quote, escapes,
unicode) come out exactly as Python sees them. Standard library only.
"""
import argparse
import ast
import hashlib
import json
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
PROMPTS = 'host/data/prompts.md'
IMAGENET = 'host/data/imagenet.txt'
OUTPUT = 'host/labelsets_data.inc'

# Short names accepted by lbl_find besides each set's own name. Written in the normalized form
# lbl_find compares (ASCII lowercase with '-', '_' and ' ' removed); checked unique below.
ALIASES = {
    'ImageNet': ['imagenet1k', 'in1k', 'ilsvrc2012'],
    'CLEVRCounts': ['clevr', 'clevrcount'],
    'Caltech101': ['caltech'],
    'DescribableTextures': ['dtd', 'textures'],
    'FGVCAircraft': ['aircraft', 'fgvc'],
    'FacialEmotionRecognition2013': ['fer2013', 'fer'],
    'Flowers102': ['flowers', 'oxfordflowers102'],
    'Food101': ['food'],
    'Kinetics700': ['kinetics'],
    'OxfordPets': ['pets', 'oxfordiiitpet'],
    'PascalVOC2007': ['voc2007', 'voc'],
    'PatchCamelyon': ['pcam'],
    'RESISC45': ['resisc', 'nwpuresisc45'],
    'SST2': ['renderedsst2'],
    'StanfordCars': ['cars'],
    'SUN397': ['sun'],
    'UCF101': ['ucf'],
}

# Template-only sets, looked up by lbl_templates_find before the datasets' own templates.
SIMPLE = ['a photo of a {}.']


def normalize(name):
    """Must match lbl_norm() in host/labelsets.c."""
    return ''.join(c.lower() if 'A' <= c <= 'Z' else c for c in name if c not in '-_ ')


def template_ok(t):
    """Must match lbl_template_check(): exactly one {}, literal braces only as {{ or }}."""
    i, holes = 0, 0
    while i < len(t):
        if t.startswith('{{', i) or t.startswith('}}', i):
            i += 2
        elif t.startswith('{}', i):
            holes += 1
            i += 2
        elif t[i] in '{}':
            return False
        else:
            i += 1
    return holes == 1


def assignments(src, where):
    """Maps each `name = <literal>` in Python source text to its value."""
    try:
        tree = ast.parse(src, filename=where)
    except SyntaxError as e:
        sys.exit(f'{where}: not Python list syntax: {e}')
    out = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            sys.exit(f'{where}: line {node.lineno}: expected `name = [...]`')
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def check_set(name, classes, templates, where):
    if not isinstance(classes, list) or not classes:
        sys.exit(f'{where}: {name}: classes must be a non-empty list')
    syn = []
    for i, c in enumerate(classes):
        names = [c] if isinstance(c, str) else c
        if (not isinstance(names, list) or not names
                or not all(isinstance(s, str) and s and '\0' not in s for s in names)):
            sys.exit(f'{where}: {name}: class {i} is not a non-empty string or list of them')
        syn.append(names)
    check_templates(name, templates, where)
    return syn


def check_templates(name, templates, where):
    if not isinstance(templates, list) or not templates:
        sys.exit(f'{where}: {name}: templates must be a non-empty list')
    for t in templates:
        if not isinstance(t, str) or '\0' in t or not template_ok(t):
            sys.exit(f'{where}: {name}: template {t!r} does not have exactly one {{}}')


def read_prompts(path):
    text = open(path, encoding='utf-8').read()
    sets = []
    # Each dataset: a `## Name` heading, then the first ```bash block before the next heading.
    for sec in re.split(r'^## ', text, flags=re.M)[1:]:
        title, _, body = sec.partition('\n')
        m = re.search(r'^```bash\n(.*?)^```', body, re.S | re.M)
        if not m:
            sys.exit(f'{path}: section {title!r} has no ```bash block')
        a = assignments(m.group(1), f'{path} ({title})')
        if set(a) != {'classes', 'templates'}:
            sys.exit(f'{path}: {title}: expected classes and templates, got {sorted(a)}')
        name = title.strip()
        sets.append((name, check_set(name, a['classes'], a['templates'], path), a['templates']))
    if len(sets) != 26:
        sys.exit(f'{path}: expected 26 datasets, found {len(sets)}')
    return sets


def read_imagenet(path):
    a = assignments(open(path, encoding='utf-8').read(), path)
    if set(a) != {'classes', 'templates', 'templates_7'}:
        sys.exit(f'{path}: expected classes, templates, templates_7; got {sorted(a)}')
    syn = check_set('ImageNet', a['classes'], a['templates'], path)
    check_templates('ImageNet-7', a['templates_7'], path)
    if len(syn) != 1000 or len(a['templates']) != 80 or len(a['templates_7']) != 7:
        sys.exit(f'{path}: expected 1000 classes, 80 templates, 7 selected templates')
    if not set(a['templates_7']) <= set(a['templates']):
        sys.exit(f'{path}: templates_7 is not a subset of templates')
    return syn, a['templates'], a['templates_7']


def c_str(s):
    """A C string literal holding s as UTF-8, safe under -std=c11 (trigraphs) and hex-escape rules."""
    out = ['"']
    prev = ''
    for b in s.encode('utf-8'):
        ch = chr(b)
        if ch in '"\\':
            out.append('\\' + ch)
        elif ch == '?' and prev == '?':
            out.append('\\?')  # "??x" would be a trigraph in strict C11
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append('\\%03o' % b)  # octal stops after 3 digits; \x would swallow hex digits
        prev = ch
    out.append('"')
    return ''.join(out)


def emit_list(lines, decl, items, per_line=1):
    lines.append(f'{decl} = {{')
    for i in range(0, len(items), per_line):
        lines.append('    ' + ' '.join(x + ',' for x in items[i:i + per_line]))
    lines.append('};')


def generate():
    prompts_path = os.path.join(ROOT, PROMPTS)
    imagenet_path = os.path.join(ROOT, IMAGENET)
    in_syn, in_tmpl, in_tmpl7 = read_imagenet(imagenet_path)
    nb_src = ('OpenAI CLIP notebooks/Prompt_Engineering_for_ImageNet.ipynb '
              '(MIT; host/data/imagenet.txt)')
    md_src = 'OpenAI CLIP data/prompts.md (MIT; host/data/prompts.md)'
    sets = [('ImageNet', in_syn, in_tmpl, nb_src)]
    sets += [(n, s, t, md_src) for n, s, t in read_prompts(prompts_path)]

    seen = {}
    for name, *_ in sets:
        for key in [normalize(name)] + ALIASES.get(name, []):
            if key != normalize(key) or not key:
                sys.exit(f'alias {key!r} of {name} is not in normalized form')
            if key in seen:
                sys.exit(f'name {key!r} is used by both {seen[key]} and {name}')
            seen[key] = name
    unknown = set(ALIASES) - {n for n, *_ in sets}
    if unknown:
        sys.exit(f'ALIASES names unknown sets: {sorted(unknown)}')
    tsets = [('simple', SIMPLE, 'the single prompt of the CLIP paper\'s baseline'),
             ('imagenet80', 'lbl_s0_templates', 'the 80 ImageNet templates of the CLIP paper'),
             ('imagenet7', in_tmpl7, '7 of the 80 ImageNet templates, chosen by OpenAI\'s '
              'forward selection; a bit better than all 80 for small models')]
    for tname, t, _ in tsets:
        check_templates(tname, in_tmpl if isinstance(t, str) else t, 'generator')
        if tname in seen:
            sys.exit(f'template set {tname!r} collides with a label set name')

    def sha(p):
        return hashlib.sha256(open(p, 'rb').read()).hexdigest()

    L = ['/* labelsets_data.inc — GENERATED by scripts/gen_labelsets.py; do not edit.',
         ' * Regenerate from the repository root with:  python3 scripts/gen_labelsets.py',
         ' * (`--check` verifies this file is current). Sources, MIT, host/data/LICENSE-openai-clip:',
         f' *   {PROMPTS}  sha256 {sha(prompts_path)}',
         f' *   {IMAGENET}  sha256 {sha(imagenet_path)}',
         ' * Included once by host/labelsets.c. */', '']
    entries = []
    for k, (name, syn, tmpl, src) in enumerate(sets):
        # One flat NULL-separated array per set; each class points at its first synonym.
        groups, starts, at = [], [], 0
        for names in syn:
            starts.append(at)
            groups.append(', '.join([c_str(s) for s in names] + ['NULL']))
            at += len(names) + 1
        L.append(f'/* {name}: {len(syn)} classes, {len(tmpl)} templates */')
        emit_list(L, f'static const char *const lbl_s{k}_names[]', groups)
        emit_list(L, f'static const char *const *const lbl_s{k}_classes[]',
                  [f'lbl_s{k}_names + {s}' for s in starts], per_line=6)
        emit_list(L, f'static const char *const lbl_s{k}_templates[]', [c_str(t) for t in tmpl])
        emit_list(L, f'static const char *const lbl_s{k}_aliases[]',
                  [c_str(a) for a in ALIASES.get(name, [])] + ['NULL'], per_line=8)
        L.append('')
        entries.append(f'    {{{c_str(name)}, {len(syn)}, lbl_s{k}_classes, {len(tmpl)}, '
                       f'lbl_s{k}_templates, lbl_s{k}_aliases, {c_str(src)}}},')
    L.append('static const lbl_set lbl_sets[] = {')
    L += entries
    L.append('};')
    L.append('')
    tentries = []
    for k, (tname, t, note) in enumerate(tsets):
        if isinstance(t, str):  # the name of an array emitted above: share it
            arr, n = t, len(in_tmpl)
        else:
            arr, n = f'lbl_t{k}_templates', len(t)
            emit_list(L, f'static const char *const {arr}[]', [c_str(x) for x in t])
        tentries.append(f'    {{{c_str(tname)}, {n}, {arr}, {c_str(note)}}},')
    L.append('')
    L.append('static const lbl_tset lbl_tsets[] = {')
    L += tentries
    L.append('};')
    return '\n'.join(L) + '\n'


def extract_imagenet(notebook, commit):
    nb = json.load(open(notebook, encoding='utf-8'))
    cells = [''.join(c['source']) for c in nb['cells']]
    found = {}
    for i, src in enumerate(cells):
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue  # markdown, or shell magics such as `! pip install`
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in ('imagenet_classes', 'imagenet_templates')):
                found[node.targets[0].id] = (i, ast.literal_eval(node.value))
    if set(found) != {'imagenet_classes', 'imagenet_templates'}:
        sys.exit(f'{notebook}: imagenet_classes / imagenet_templates not found')
    classes, templates = found['imagenet_classes'][1], found['imagenet_templates'][1]
    # The 7 selected templates are a numbered list in the markdown cell after the templates.
    after = '\n'.join(cells[found['imagenet_templates'][0] + 1:])
    m = re.search(r'^1\. (.*)\n2\. (.*)\n3\. (.*)\n4\. (.*)\n5\. (.*)\n6\. (.*)\n7\. (.*)$',
                  after, re.M)
    if not m:
        sys.exit(f'{notebook}: the list of 7 selected templates was not found')
    seven = [s.strip() for s in m.groups()]
    if len(classes) != 1000 or len(templates) != 80 or not set(seven) <= set(templates):
        sys.exit(f'{notebook}: got {len(classes)} classes, {len(templates)} templates, '
                 f'selected subset ok: {set(seven) <= set(templates)}')
    where = 'notebooks/Prompt_Engineering_for_ImageNet.ipynb'
    if commit:
        where = f'https://github.com/openai/CLIP/blob/{commit}/{where}'
    out = [
        '# ImageNet-1k class names and prompt templates used by OpenAI for CLIP zero-shot.',
        f'# Source: {where}',
        '#   `classes` = the notebook\'s `imagenet_classes` (1000, OpenAI\'s edited names; note',
        '#   "missile" and "sunglasses" each occur twice, as in the original), `templates` =',
        '#   `imagenet_templates` (80), `templates_7` = the 7 templates its text lists as chosen',
        '#   by sequential forward selection, in that order.',
        '# Licence: MIT (OpenAI), see LICENSE-openai-clip in this folder.',
        f'# Extracted with: python3 scripts/gen_labelsets.py --extract-imagenet NOTEBOOK'
        + (f' --commit {commit}' if commit else ''),
        '# Read by scripts/gen_labelsets.py with ast.literal_eval (Python literal syntax).',
        '',
    ]
    for var, items in (('classes', classes), ('templates', templates), ('templates_7', seven)):
        out.append(f'{var} = [')
        out += [f'    {s!r},' for s in items]
        out += [']', '']
    with open(os.path.join(ROOT, IMAGENET), 'w', encoding='utf-8') as f:
        f.write('\n'.join(out))
    print(f'wrote {IMAGENET}: {len(classes)} classes, {len(templates)} templates, '
          f'{len(seven)} selected')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true', help='compare instead of writing')
    ap.add_argument('--extract-imagenet', metavar='NOTEBOOK')
    ap.add_argument('--commit', help='CLIP commit the notebook came from (provenance note)')
    args = ap.parse_args()
    if args.extract_imagenet:
        extract_imagenet(args.extract_imagenet, args.commit)
        return 0
    text = generate()
    out = os.path.join(ROOT, OUTPUT)
    if args.check:
        old = open(out, encoding='utf-8').read() if os.path.exists(out) else None
        if old != text:
            print(f'{OUTPUT} is out of date: run python3 scripts/gen_labelsets.py', file=sys.stderr)
            return 1
        print(f'{OUTPUT} is up to date')
        return 0
    with open(out, 'w', encoding='utf-8') as f:
        f.write(text)
    print(f'wrote {OUTPUT}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
