import { RECORD_FIELDS } from '../../src/flow/record';

/**
 * A linter for the analytic statements of the flow-log dashboards, alerts and saved searches.
 * The real Log Service is out of reach and accepts a chart whatever its query (a bad one fails
 * when the chart is viewed), so this is the check that the SQL is written against the record
 * as `sls setup` indexes it: `* | SELECT ...`, every record field double-quoted (the dashed
 * names would parse as subtractions, `end` is reserved) and an indexed key, every other word
 * a keyword, a known function, `log` (the Logstore), `__time__`, a subquery name or an alias
 * the query defines, balanced parentheses and quotes, and only the values a record can hold
 * compared with log-status, action and direction. Returns the problems, [] when none.
 */

const KEYWORDS = new Set(
  'select from where group by order desc asc limit as and or not case when then else end is null distinct join on union in'.split(
    ' ',
  ),
);
/** The SLS SQL functions the queries may use. */
export const FUNCTIONS = new Set([
  'count',
  'sum',
  'min',
  'max',
  'arbitrary',
  'from_unixtime',
  'to_unixtime',
  'now',
  'date_trunc',
]);
const VALUES: Record<string, readonly string[]> = {
  'log-status': ['OK', 'NODATA', 'SKIPDATA'],
  action: ['ACCEPT', 'REJECT'],
  direction: ['in', 'out'],
};

type Token = { kind: 'string' | 'ident' | 'word' | 'number' | 'op'; text: string; at: number; end: number };

function tokenize(sql: string, problems: string[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      const close = sql.indexOf(c, i + 1);
      if (close < 0) {
        problems.push(`unclosed ${c} at ${i}`);
        return tokens;
      }
      tokens.push({ kind: c === "'" ? 'string' : 'ident', text: sql.slice(i + 1, close), at: i, end: close + 1 });
      i = close + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))![0];
      tokens.push({ kind: 'word', text: m, at: i, end: i + m.length });
      i += m.length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9.]+/.exec(sql.slice(i))![0];
      tokens.push({ kind: 'number', text: m, at: i, end: i + m.length });
      i += m.length;
    } else {
      const m = /^(<>|>=|<=|[-+*/%(),.=<>|])/.exec(sql.slice(i));
      if (m === null) {
        problems.push(`unexpected character ${c} at ${i}`);
        i++;
      } else {
        tokens.push({ kind: 'op', text: m[0], at: i, end: i + m[0].length });
        i += m[0].length;
      }
    }
  }
  return tokens;
}

/** The names of the top-level SELECT's output columns (aliases, or quoted fields). */
export function outputColumns(query: string): string[] {
  const sql = query.slice(query.indexOf('|') + 1);
  const tokens = tokenize(sql, []);
  const cols: string[] = [];
  let depth = 0;
  let item: Token[] = [];
  let inSelect = false;
  const flush = () => {
    const asAt = item.findIndex((t, k) => t.kind === 'word' && t.text.toLowerCase() === 'as' && k === item.length - 2);
    if (asAt >= 0) cols.push(item[asAt + 1].text);
    else if (item.length > 0 && item[item.length - 1].kind === 'ident') cols.push(item[item.length - 1].text);
    item = [];
  };
  for (const t of tokens) {
    if (t.kind === 'op' && t.text === '(') depth++;
    if (t.kind === 'op' && t.text === ')') depth--;
    if (depth === 0 && t.kind === 'word' && t.text.toLowerCase() === 'select' && cols.length === 0 && !inSelect) {
      inSelect = true;
      continue;
    }
    if (!inSelect) continue;
    if (depth === 0 && t.kind === 'word' && t.text.toLowerCase() === 'from') {
      flush();
      break;
    }
    if (depth === 0 && t.kind === 'op' && t.text === ',') flush();
    else item.push(t);
  }
  return cols;
}

export function lintQuery(query: string, indexedKeys: readonly string[] = RECORD_FIELDS): string[] {
  const problems: string[] = [];
  const bar = query.indexOf('|');
  if (bar < 0 || query.slice(0, bar).trim() !== '*') problems.push('not "* | <SQL>"');
  const sql = query.slice(bar + 1);
  const tokens = tokenize(sql, problems);
  if (tokens[0]?.text.toLowerCase() !== 'select') problems.push('the analytic statement does not start with SELECT');
  const aliases = new Set<string>();
  tokens.forEach((t, k) => {
    const prev = tokens[k - 1];
    if (t.kind === 'word' && prev?.kind === 'word' && prev.text.toLowerCase() === 'as') aliases.add(t.text);
    // Subquery names: ") a", ") b".
    if (t.kind === 'word' && prev?.kind === 'op' && prev.text === ')' && !KEYWORDS.has(t.text.toLowerCase()))
      aliases.add(t.text);
  });
  let depth = 0;
  let cases = 0;
  let ends = 0;
  tokens.forEach((t, k) => {
    const next = tokens[k + 1];
    if (t.kind === 'op' && t.text === '(') depth++;
    if (t.kind === 'op' && t.text === ')') depth--;
    if (depth < 0) problems.push('a ) without its (');
    if (t.kind === 'ident' && !indexedKeys.includes(t.text))
      problems.push(`"${t.text}" is not an indexed key of the record`);
    if (t.kind === 'word') {
      const lower = t.text.toLowerCase();
      if (lower === 'case') cases++;
      if (lower === 'end') ends++;
      const isCall = next?.kind === 'op' && next.text === '(' && !KEYWORDS.has(lower);
      if (isCall) {
        if (!FUNCTIONS.has(lower)) problems.push(`${t.text}( is not a function the queries may use`);
      } else if (RECORD_FIELDS.includes(t.text as never)) {
        problems.push(`record field ${t.text} is not double-quoted`);
      } else if (!KEYWORDS.has(lower) && !aliases.has(t.text) && t.text !== 'log' && t.text !== '__time__') {
        problems.push(`${t.text} is neither a keyword, a function, a quoted field nor an alias`);
      }
    }
    // "field" = 'VALUE' for the enumerated fields.
    if (t.kind === 'ident' && VALUES[t.text] !== undefined && next?.text === '=' && tokens[k + 2]?.kind === 'string') {
      const value = tokens[k + 2].text;
      if (!VALUES[t.text].includes(value)) problems.push(`"${t.text}" is never '${value}'`);
    }
  });
  if (depth !== 0) problems.push('unbalanced parentheses');
  if (ends !== cases) problems.push(`${ends} END for ${cases} CASE: is a field named end unquoted?`);
  // word-word with no space: a field name written without quotes, which SQL reads as a subtraction.
  tokens.forEach((t, k) => {
    const dash = tokens[k + 1];
    const next = tokens[k + 2];
    if (t.kind === 'word' && dash?.text === '-' && next?.kind === 'word' && t.end === dash.at && dash.end === next.at) {
      problems.push(`${t.text}-${next.text} outside double quotes is a subtraction`);
    }
  });
  return problems;
}
