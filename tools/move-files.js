#!/usr/bin/env node
'use strict';
/**
 * Moves source files and rewrites every import of them, with the TypeScript language service
 * (getEditsForFileRename, the engine behind an editor's "move file"), then `git mv`s them so git
 * sees renames. Covers src/, test/, bench/ and tools/ (.ts and .js). Paths that are strings rather
 * than imports (`dist/x/y.js`, `src/x/y.ts`, `join(ROOT, 'dist', 'x', 'y.js')`) are not imports:
 * the script rewrites the slash-separated forms in test/, bench/, tools/ and the repository's
 * build files, and prints the comma-separated forms it finds for a human to check.
 *
 *   node tools/move-files.js MOVES    (MOVES: one "old/path.ts new/path.ts" per line, # comments)
 *
 * Written for the issue 33 layout, kept for branches that must follow the same moves: run it with
 * the same MOVES file on their tree.
 */
const ts = require('typescript');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const movesFile = process.argv[2];
if (!movesFile) {
  process.stderr.write('usage: node tools/move-files.js MOVES\n');
  process.exit(2);
}
const moves = fs
  .readFileSync(movesFile, 'utf8')
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .filter(Boolean)
  .map((l) => l.split(/\s+/).map((p) => path.resolve(root, p)));

function walk(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name === 'build') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(ts|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

const files = new Map(); // path -> { text, version }
for (const d of ['src', 'test', 'bench', 'tools'])
  for (const f of walk(path.join(root, d), [])) files.set(f, { text: fs.readFileSync(f, 'utf8'), version: 0 });
const changed = new Set();

const options = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  allowJs: true,
  checkJs: false,
  noEmit: true,
  esModuleInterop: true,
  resolveJsonModule: true,
  skipLibCheck: true,
  types: ['node'],
};
const host = {
  getScriptFileNames: () => [...files.keys()],
  getScriptVersion: (f) => String(files.get(f)?.version ?? 0),
  getScriptSnapshot: (f) => {
    const e = files.get(f);
    if (e) return ts.ScriptSnapshot.fromString(e.text);
    return fs.existsSync(f) ? ts.ScriptSnapshot.fromString(fs.readFileSync(f, 'utf8')) : undefined;
  },
  getCurrentDirectory: () => root,
  getCompilationSettings: () => options,
  getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
  fileExists: (f) => files.has(f) || fs.existsSync(f),
  readFile: (f) => files.get(f)?.text ?? (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined),
  readDirectory: ts.sys.readDirectory,
  directoryExists: (d) => [...files.keys()].some((f) => f.startsWith(d + path.sep)) || ts.sys.directoryExists(d),
  getDirectories: ts.sys.getDirectories,
};
const service = ts.createLanguageService(host, ts.createDocumentRegistry());
const format = ts.getDefaultFormatCodeSettings('\n');
const preferences = {
  importModuleSpecifierPreference: 'relative',
  importModuleSpecifierEnding: 'minimal',
  quotePreference: 'single',
};

function apply(fileName, textChanges) {
  const e = files.get(fileName);
  if (!e) return;
  // Apply from the end so earlier offsets stay valid.
  let text = e.text;
  for (const c of [...textChanges].sort((a, b) => b.span.start - a.span.start)) {
    text = text.slice(0, c.span.start) + c.newText + text.slice(c.span.start + c.span.length);
  }
  if (text !== e.text) {
    files.set(fileName, { text, version: e.version + 1 });
    changed.add(fileName);
  }
}

const rel = (p) => path.relative(root, p);
for (const [from, to] of moves) {
  if (!files.has(from)) throw new Error(`move ${rel(from)}: no such file`);
  for (const fc of service.getEditsForFileRename(from, to, format, preferences)) apply(fc.fileName, fc.textChanges);
  const e = files.get(from);
  files.delete(from);
  files.set(to, { text: e.text, version: e.version + 1 });
  if (changed.delete(from)) changed.add(to);
  process.stdout.write(`moved ${rel(from)} -> ${rel(to)}\n`);
}

// `require('x') as typeof import('x')` (a lazy load, typed): the language service rewrote the
// type's path only; the require follows it.
for (const [f, e] of files) {
  const text = e.text.replace(
    /require\((['"])([^'"]+)\1\)( as typeof import\((['"])([^'"]+)\4\))/g,
    (_m, q, _old, rest, _q2, now) => `require(${q}${now}${q})${rest}`,
  );
  if (text !== e.text) {
    files.set(f, { text, version: e.version + 1 });
    changed.add(f);
  }
}

// Strings that name moved files: dist/<x>.js and src/<x>.ts in the test, bench and tools files
// and in the build files.
const strip = (p, ext) =>
  rel(p)
    .replace(/^src\//, '')
    .replace(/\.ts$/, ext);
const stringRewrites = moves
  .filter(([from]) => from.startsWith(path.join(root, 'src') + path.sep) && from.endsWith('.ts'))
  .flatMap(([from, to]) => [
    [`dist/${strip(from, '')}`, `dist/${strip(to, '')}`],
    [`src/${strip(from, '.ts')}`, `src/${strip(to, '.ts')}`],
  ])
  .concat(
    moves
      .filter(([from]) => !from.startsWith(path.join(root, 'src') + path.sep))
      .map(([from, to]) => [rel(from), rel(to)]),
  );
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const buildFiles = ['binding.gyp', 'package.json', 'tsconfig.json', 'vitest.config.ts'].map((f) => path.join(root, f));
for (const f of [...files.keys(), ...buildFiles]) {
  const inSrc = f.startsWith(path.join(root, 'src') + path.sep);
  const e = files.get(f) ?? (fs.existsSync(f) ? { text: fs.readFileSync(f, 'utf8'), version: 0 } : null);
  if (!e) continue;
  let text = e.text;
  for (const [a, b] of stringRewrites)
    if (!inSrc || a.startsWith('src/')) text = text.replace(new RegExp(`${escape(a)}(?![\\w/-])`, 'g'), b);
  if (text !== e.text) {
    files.set(f, { text, version: e.version + 1 });
    changed.add(f);
  }
  for (const m of text.matchAll(/'(?:dist|src)',\s*'[^)]*\)/g)) process.stdout.write(`check ${rel(f)}: ${m[0]}\n`);
}

// A moved file's own paths from `__dirname` (`join(__dirname, '..', 'bin')`) and its
// `require.resolve('../x')` strings: one '..' more per level it went down. A file that went up
// is only reported.
for (const [from, to] of moves) {
  const levels = rel(to).split('/').length - rel(from).split('/').length;
  const e = files.get(to);
  if (levels === 0 || e === undefined || !/__dirname|require\.resolve\(['"]\./.test(e.text)) continue;
  if (levels < 0) {
    process.stdout.write(`check ${rel(to)}: moved up ${-levels} level(s); its __dirname paths are unchanged\n`);
    continue;
  }
  const text = e.text
    .replace(/__dirname, (?=['"`])/g, `__dirname, ${"'..', ".repeat(levels)}`)
    .replace(
      /require\.resolve\((['"])\.\.?\//g,
      (m, q) => `require.resolve(${q}${'../'.repeat(levels)}${m.endsWith('../') ? '../' : ''}`,
    );
  if (/__dirname(?!, )/.test(text))
    process.stdout.write(`check ${rel(to)}: a __dirname not followed by a path argument\n`);
  files.set(to, { text, version: e.version + 1 });
  changed.add(to);
}

for (const [from, to] of moves) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  execFileSync('git', ['mv', rel(from), rel(to)], { cwd: root });
}
for (const f of changed) fs.writeFileSync(f, files.get(f).text);
process.stdout.write(`${moves.length} files moved, ${changed.size} files rewritten\n`);
