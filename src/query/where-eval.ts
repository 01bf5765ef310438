/**
 * Evaluation of a parsed --where tree against one record.
 *
 * Semantics (documented for operators in `query --help`):
 * - numeric fields compare as numbers; a record value that is not a number ('-') satisfies
 *   only `!=` (and `= -` written as text);
 * - srcaddr/dstaddr compare by address: `=` and `in` test membership of a CIDR (a bare
 *   address is a /32 or /128), `!=` is its negation;
 * - other fields compare as text, case-insensitively ("action=reject" finds REJECT), as the
 *   Log Service console does.
 */
import type { FlowRecord } from '../flow/record';
import { addressBytes, rangeContains } from './address-match';
import { parseWhere, type WhereExpr, type WhereValue } from './where-parser';

/** A compiled filter: true when the record is selected. */
export type RecordPredicate = (record: FlowRecord) => boolean;

/** Parses `text` (throws WhereError) and returns its predicate; undefined or blank selects everything. */
export function compileWhere(text: string | undefined): RecordPredicate {
  if (text === undefined || text.trim() === '') return () => true;
  const expr = parseWhere(text);
  return (record) => evaluateWhere(expr, record);
}

export function evaluateWhere(expr: WhereExpr, record: FlowRecord): boolean {
  switch (expr.kind) {
    case 'and':
      return evaluateWhere(expr.left, record) && evaluateWhere(expr.right, record);
    case 'or':
      return evaluateWhere(expr.left, record) || evaluateWhere(expr.right, record);
    case 'not':
      return !evaluateWhere(expr.operand, record);
    case 'in': {
      const actual = record[expr.field];
      return expr.values.some((v) => valueEquals(v, actual));
    }
    case 'compare': {
      const actual = record[expr.field];
      switch (expr.op) {
        case '=':
          return valueEquals(expr.value, actual);
        case '!=':
          return !valueEquals(expr.value, actual);
        default:
          return ordered(expr.op, expr.value, actual);
      }
    }
  }
}

function valueEquals(value: WhereValue, actual: string | undefined): boolean {
  if (actual === undefined) return false;
  switch (value.kind) {
    case 'number': {
      const n = toNumber(actual);
      return n !== undefined && n === value.value;
    }
    case 'address': {
      const addr = addressBytes(actual);
      return addr !== undefined && rangeContains(value.range, addr);
    }
    case 'text':
      return actual.toLowerCase() === value.lower;
  }
}

function ordered(op: '>' | '>=' | '<' | '<=', value: WhereValue, actual: string | undefined): boolean {
  if (value.kind !== 'number' || actual === undefined) return false;
  const n = toNumber(actual);
  if (n === undefined) return false;
  switch (op) {
    case '>':
      return n > value.value;
    case '>=':
      return n >= value.value;
    case '<':
      return n < value.value;
    case '<=':
      return n <= value.value;
  }
}

function toNumber(text: string): number | undefined {
  if (text === '' || text === '-') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}
