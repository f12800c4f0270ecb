#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The reference stays complete: every public function of rtasync.h (and
of each header given with it) has a
section in Documentation/api.md and a generated man page, every section
documents something the header still declares, and the pages render.

    check_docs.py complete HEADER... API_MD GEN_MAN MANDIR
    check_docs.py render MANDIR

"render" runs every page through groff with all warnings on, and man -l
on one, and fails on any warning; it skips (exit 77, the reason on
stdout) without man(1) or groff.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

SKIP = 77


def public_names(header):
    """Functions declared at file scope (rt__ names are private), and
    function-like macros, of a C header."""
    with open(header, encoding='utf-8') as f:
        text = f.read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    text = re.sub(r'#ifdef __cplusplus.*?#endif', ' ', text, flags=re.S)
    text = re.sub(r'\\\n', ' ', text)
    macros = set(re.findall(r'^\s*#\s*define\s+([A-Za-z_]\w*)\(', text, re.M))
    text = re.sub(r'^\s*#[^\n]*', ' ', text, flags=re.M)
    functions = set()
    depth = 0
    for tok in re.finditer(r'[{}]|([A-Za-z_]\w*)\s*\(', text):
        if tok.group(0) == '{':
            depth += 1
        elif tok.group(0) == '}':
            depth -= 1
        elif depth == 0 and tok.group(1).startswith('rt_') and \
                not tok.group(1).startswith('rt__'):
            functions.add(tok.group(1))
    return functions, {m for m in macros if not m.startswith('RT__')}


def documented(gen_man, api_md):
    spec = importlib.util.spec_from_file_location('gen_man', gen_man)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _, _, sections = mod.parse_api(api_md)
    return [f['name'] for s in sections for f in s['functions']]


def complete(headers, api_md, gen_man, mandir):
    functions, macros = set(), set()
    for h in headers:
        f, m = public_names(h)
        functions |= f
        macros |= m
    header = ' or '.join(headers)
    docs = documented(gen_man, api_md)
    problems = []
    for name in sorted(functions - set(docs)):
        problems.append('%s: declared in %s, no "### `...%s(...)`" section '
                        'in %s' % (name, header, name, api_md))
    for name in sorted(set(docs) - functions - macros):
        problems.append('%s: documented in %s, declared nowhere in %s' %
                        (name, api_md, header))
    for name in docs + ['rtasync.7']:
        page = os.path.join(mandir, name if '.' in name else name + '.3')
        if not os.path.isfile(page) or os.path.getsize(page) == 0:
            problems.append('%s: no generated page' % page)
    for p in problems:
        print(p)
    print('%d public functions, %d sections, %d problems' %
          (len(functions), len(docs), len(problems)))
    return 1 if problems else 0


def render(mandir):
    """Every page through groff with all warnings (one run: man(1) per page
    is slow on a loaded machine), then one page as a reader gets it."""
    man = shutil.which('man')
    groff = shutil.which('groff')
    if not man or not groff:
        print('SKIP: man(1) or groff is not installed (Debian: man-db, '
              'groff-base), nothing renders the pages')
        return SKIP
    pages = sorted(os.path.join(mandir, p) for p in os.listdir(mandir)
                   if re.search(r'\.[1-8]$', p))
    if not pages:
        print('no pages in %s' % mandir)
        return 1
    env = dict(os.environ, MANWIDTH='80', LC_ALL='C.UTF-8')
    bad = 0
    runs = [[groff, '-k', '-man', '-Tutf8', '-ww', '-z'] + pages,
            [man, '--warnings=w', '-l',
             os.path.join(mandir, 'rt_task_spawn.3')]]
    for cmd in runs:
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, check=False)
        if r.returncode or r.stderr.strip() or \
                (cmd[0] == man and not r.stdout.strip()):
            print('%s exited %d%s' % (os.path.basename(cmd[0]), r.returncode,
                  ''.join('\n  ' + s for s in r.stderr.splitlines())))
            bad += 1
    print('%d pages checked by groff -ww, rt_task_spawn.3 rendered by man: '
          '%s' % (len(pages), 'warnings' if bad else 'clean'))
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == 'complete':
        return complete(sys.argv[2:-3], *sys.argv[-3:])
    if len(sys.argv) == 3 and sys.argv[1] == 'render':
        return render(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
