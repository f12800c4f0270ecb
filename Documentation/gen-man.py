#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Man pages from the Markdown reference, so the two never disagree.

    gen-man.py --list api.md                  names of the pages api.md gives
    gen-man.py --api api.md --out DIR [--version V]
    gen-man.py --page rtasync-trace.md --out DIR [--version V]

api.md: every "### `signature`" section becomes a section-3 page named for
the function (or macro) it documents: NAME from the first sentence,
SYNOPSIS from the signature, DESCRIPTION and ERRORS from the text as
written (paragraphs that start with "Errors" go to ERRORS), NOTES from the
text that opens the "##" section it belongs to (what all its functions
share), SEE ALSO the rest of that section. rtasync.7 is the overview: the
reference's introduction, the sections without functions, and an index.

A page written as a man page in Markdown ("# name(8)" first, "##" for
the sections) converts as it is: rtasync-trace.md gives rtasync-trace.8.

Only what the reference uses is supported: paragraphs, "-" and "1." lists,
definition lists (a term line, then ": text"), pipe tables (rendered as
tagged paragraphs: the first column is the tag), fenced code blocks, and
inline `code`, **bold**, *italic* and [links](url).
"""
import argparse
import os
import re
import sys

SIG_RE = re.compile(r'^### `(.+)`\s*$')
NAME_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*\(')
MAN_TITLE_RE = re.compile(r'^# ([A-Za-z0-9_.-]+)\(([0-9a-z]+)\)\s*$')


# ---- inline markup ------------------------------------------------------

def roff_escape(text):
    """Plain text for roff: backslashes escaped, no request at line start."""
    return text.replace('\\', '\\e')


def literal(text):
    """Text shown as written (code): minus signs are minus signs."""
    return roff_escape(text).replace('-', '\\-')


def inline(text):
    """Markdown inline markup to roff font changes."""
    out = []
    for i, part in enumerate(re.split(r'(`[^`]*`)', text)):
        if i % 2:
            out.append('\\fB' + literal(part[1:-1]) + '\\fR')
            continue
        part = roff_escape(part)
        part = re.sub(r'\[([^\]]+)\]\([^)]*\)', r'\1', part)
        part = re.sub(r'\*\*([^*]+)\*\*', r'\\fB\1\\fR', part)
        part = re.sub(r'(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])',
                      r'\\fI\1\\fR', part)
        out.append(part)
    return ''.join(out)


def plain(text):
    """Markup removed: for the one-line NAME summary."""
    text = re.sub(r'\[([^\]]+)\]\([^)]*\)', r'\1', text)
    return re.sub(r'[`*]', '', text)


def line(text):
    """One output line that roff will not take for a request."""
    if text.startswith(('.', "'")):
        return '\\&' + text
    return text


# ---- blocks -------------------------------------------------------------

def split_blocks(lines):
    """Markdown lines to (kind, payload) blocks."""
    blocks = []
    i = 0
    n = len(lines)
    while i < n:
        s = lines[i]
        if not s.strip():
            i += 1
            continue
        if s.startswith('```'):
            code = []
            i += 1
            while i < n and not lines[i].startswith('```'):
                code.append(lines[i])
                i += 1
            blocks.append(('code', code))
            i += 1
            continue
        if s.startswith('#'):
            level = len(s) - len(s.lstrip('#'))
            blocks.append(('heading', (level, s[level:].strip())))
            i += 1
            continue
        if s.startswith('|'):
            rows = []
            while i < n and lines[i].startswith('|'):
                cells = [c.strip() for c in lines[i].strip().strip('|')
                         .split('|')]
                if not all(re.fullmatch(r':?-+:?', c) for c in cells):
                    rows.append(cells)
                i += 1
            blocks.append(('table', rows))
            continue
        m = re.match(r'^(- |\d+\. )', s)
        if m:
            items = []
            while i < n and re.match(r'^(- |\d+\. )', lines[i]):
                mark = re.match(r'^(- |\d+\. )', lines[i]).group(1)
                item = [lines[i][len(mark):]]
                i += 1
                while i < n and lines[i].startswith('  ') and lines[i].strip():
                    item.append(lines[i].strip())
                    i += 1
                items.append((mark.strip(), ' '.join(item)))
                while (i < n and not lines[i].strip() and i + 1 < n and
                       re.match(r'^(- |\d+\. )', lines[i + 1])):
                    i += 1
            blocks.append(('list', items))
            continue
        if i + 1 < n and lines[i + 1].startswith(': '):
            term = s.strip()
            body = [lines[i + 1][2:]]
            i += 2
            while i < n and lines[i].startswith('  ') and lines[i].strip():
                body.append(lines[i].strip())
                i += 1
            blocks.append(('def', (term, ' '.join(body))))
            continue
        para = []
        while (i < n and lines[i].strip() and
               not lines[i].startswith(('```', '#', '|')) and
               not re.match(r'^(- |\d+\. )', lines[i]) and
               not (i + 1 < n and lines[i + 1].startswith(': '))):
            para.append(lines[i].strip())
            i += 1
        blocks.append(('para', ' '.join(para)))
    return blocks


def render(blocks, out, base_level=2):
    """Blocks to roff lines appended to out; headings at base_level are .SH."""
    for kind, payload in blocks:
        if kind == 'para':
            out += ['.PP', line(inline(payload))]
        elif kind == 'code':
            out += ['.PP', '.in +4n', '.EX']
            out += [line(literal(c)) for c in payload]
            out += ['.EE', '.in']
        elif kind == 'heading':
            level, title = payload
            macro = '.SH' if level <= base_level else '.SS'
            if macro == '.SH':
                title = title.upper()
            out.append('%s "%s"' % (macro, plain(title).replace('"', "'")))
        elif kind == 'table':
            for row in payload[1:]:
                out += ['.TP', line(inline(row[0]))]
                out.append(line(inline(' \u2014 '.join(row[1:])
                                       .replace('\u2014', '\\(em'))))
        elif kind == 'def':
            term, body = payload
            out += ['.TP', line(inline(term)), line(inline(body))]
        elif kind == 'list':
            for mark, text in payload:
                tag = '\\(bu' if mark == '-' else mark
                out += ['.IP %s 4' % tag, line(inline(text))]


def header(name, section, version, title='librtasync Manual'):
    return ['.\\" Generated by Documentation/gen-man.py: edit the Markdown.',
            '.TH "%s" "%s" "" "librtasync %s" "%s"' %
            (name, section, version, title),
            '.nh', '.ad l']


# ---- api.md -------------------------------------------------------------

def parse_api(path):
    """api.md to (title, intro lines, sections); a section is a dict with
    its name, the lines before its first function and its functions
    (signature, name, body lines)."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    title = ''
    intro = []
    sections = []
    cur = None
    fn = None
    in_code = False
    for s in lines:
        if s.startswith('```'):
            in_code = not in_code
        if not in_code and s.startswith('# ') and not title:
            title = s[2:].strip()
            continue
        if not in_code and s.startswith('## '):
            cur = {'name': s[3:].strip(), 'intro': [], 'functions': []}
            sections.append(cur)
            fn = None
            continue
        m = None if in_code else SIG_RE.match(s)
        if m:
            sig = m.group(1)
            nm = NAME_RE.search(sig)
            if not nm or cur is None:
                sys.exit('%s: cannot name the section "%s"' % (path, s))
            fn = {'sig': sig, 'name': nm.group(1), 'body': []}
            cur['functions'].append(fn)
            continue
        if fn is not None:
            fn['body'].append(s)
        elif cur is not None:
            cur['intro'].append(s)
        else:
            intro.append(s)
    return title, intro, sections


def synopsis(sig):
    """The signature as a C declaration, wrapped at the commas."""
    decl = sig if '(' not in sig or sig.rstrip().endswith(';') else sig
    if not re.match(r'^[A-Z_]+\(', decl):
        decl += ';'
    width = 72
    if len(decl) <= width:
        return [decl]
    open_col = decl.index('(') + 1
    out = []
    cur = decl[:open_col]
    for arg in re.split(r'(?<=,) ', decl[open_col:]):
        if len(cur) + len(arg) > width and cur.strip() and \
                not cur.endswith('('):
            out.append(cur.rstrip())
            cur = ' ' * open_col
        cur += arg + ' '
    out.append(cur.rstrip())
    return out


def summary(body):
    """First sentence of the first paragraph, for the NAME line."""
    for kind, payload in split_blocks(body):
        if kind == 'para':
            text = plain(payload)
            m = re.match(r'(.+?[.:])(\s|$)', text)
            s = (m.group(1) if m else text).rstrip('.:')
            return s[0].lower() + s[1:] if s[:2] != s[:2].upper() else s
    return ''


def function_page(fn, section, version, header_name):
    body = split_blocks(fn['body'])
    desc = [b for b in body
            if not (b[0] == 'para' and b[1].startswith('Errors'))]
    errors = [b for b in body if b not in desc]
    out = header(fn['name'], '3', version)
    out += ['.SH NAME',
            '%s \\- %s' % (fn['name'], roff_escape(summary(fn['body'])))]
    out += ['.SH SYNOPSIS', '.nf', '.B #include <rtasync.h>', '.PP']
    out += [line('\\fB' + literal(s) + '\\fR') for s in synopsis(fn['sig'])]
    out += ['.fi', '.SH DESCRIPTION']
    render(desc, out)
    if errors:
        out.append('.SH ERRORS')
        render(errors, out)
    notes = split_blocks(section['intro'])
    if notes:
        out.append('.SH NOTES')
        out.append('.PP')
        out.append('From "%s" in the reference:' % section['name'])
        render(notes, out, base_level=1)
    others = [f['name'] for f in section['functions'] if f is not fn]
    refs = ['.BR rtasync (7)'] + ['.BR %s (3)' % o for o in others]
    out.append('.SH SEE ALSO')
    out += [r + ',' for r in refs[:-1]] + [refs[-1]]
    return out


def overview_page(title, intro, sections, version):
    out = header('rtasync', '7', version)
    out += ['.SH NAME', 'rtasync \\- %s' % roff_escape(plain(title))]
    out += ['.SH SYNOPSIS', '.nf', '.B #include <rtasync.h>', '.fi',
            '.SH DESCRIPTION']
    render([b for b in split_blocks(intro) if b[0] != 'list'], out)
    for sec in sections:
        out.append('.SH "%s"' % sec['name'].upper())
        render(split_blocks(sec['intro']), out, base_level=1)
        if sec['functions']:
            out += ['.PP', 'Pages:', '.RS']
            for f in sec['functions']:
                out += ['.BR %s (3)' % f['name'], '.br']
            out += ['.RE']
    out += ['.SH SEE ALSO', '.BR rtasync-trace (8)']
    return out


def api_pages(path, version):
    title, intro, sections = parse_api(path)
    pages = {}
    for sec in sections:
        for fn in sec['functions']:
            if fn['name'] + '.3' in pages:
                sys.exit('%s: "%s" is documented twice' % (path, fn['name']))
            pages[fn['name'] + '.3'] = function_page(fn, sec, version, title)
    pages['rtasync.7'] = overview_page(title, intro, sections, version)
    return pages


# ---- a man page written in Markdown ---------------------------------------

def markdown_page(path, version):
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    m = MAN_TITLE_RE.match(lines[0]) if lines else None
    if not m:
        sys.exit('%s: the first line must be "# name(section)"' % path)
    name, section = m.groups()
    out = header(name, section, version, 'librtasync Tools')
    blocks = split_blocks(lines[1:])
    # "## Name" holds "`name` — summary": the NAME line man(1) expects.
    if blocks and blocks[0] == ('heading', (2, 'Name')) and \
            blocks[1][0] == 'para':
        summ = re.sub(r'^`?%s`?\s*[\u2014-]+\s*' % re.escape(name), '',
                      blocks[1][1])
        out += ['.SH NAME', '%s \\- %s' % (name, roff_escape(plain(summ)))]
        blocks = blocks[2:]
    render(blocks, out)
    return {'%s.%s' % (name, section): out}


def write(pages, outdir):
    os.makedirs(outdir, exist_ok=True)
    for name, out in pages.items():
        with open(os.path.join(outdir, name), 'w', encoding='utf-8') as f:
            f.write('\n'.join(out) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--list', metavar='API_MD')
    ap.add_argument('--api', metavar='API_MD')
    ap.add_argument('--page', metavar='MD', action='append', default=[])
    ap.add_argument('--out', metavar='DIR', default='.')
    ap.add_argument('--version', default='')
    args = ap.parse_args()
    if args.list:
        print('\n'.join(sorted(api_pages(args.list, ''))))
        return
    if args.api:
        write(api_pages(args.api, args.version), args.out)
    for md in args.page:
        write(markdown_page(md, args.version), args.out)


if __name__ == '__main__':
    main()
