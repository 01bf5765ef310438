/**
 * Parser of the `query --where` language into a tree whose operands are already checked and
 * converted (numbers, address ranges), so evaluation per record does no parsing of the filter.
 *
 *   expr    := and ( "or" and )*
 *   and     := unary ( "and" unary )*
 *   unary   := "not" unary | "(" expr ")" | test
 *   test    := FIELD op VALUE | FIELD "in" ( "(" VALUE ( "," VALUE )* ")" | VALUE )
 *   op      := = | != | > | >= | < | <=
 *
 * Keywords are case-insensitive. Precedence: not > and > or.
 */
import { RECORD_FIELDS } from '../flow/record';
import { parseAddressRange, type AddressRange } from './address-match';
import { tokenizeWhere, WhereError, type ComparisonOp, type Token } from './where-lexer';

/** Fields a filter may name: the 18 record fields and the optional extra fields. */
export const QUERY_FIELDS: readonly string[] = [
  ...RECORD_FIELDS,
  'tcp-flags',
  'region',
  'tunnel-srcaddr',
  'tunnel-dstaddr',
  'vni',
];
/** Fields compared as numbers (ordering operators allowed). */
export const NUMERIC_FIELDS: ReadonlySet<string> = new Set([
  'version',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'tcp-flags',
  'vni',
]);
/** Fields whose values may be written as an address or a CIDR. */
export const ADDRESS_FIELDS: ReadonlySet<string> = new Set(['srcaddr', 'dstaddr', 'tunnel-srcaddr', 'tunnel-dstaddr']);

/** One literal of a test, converted for its field. */
export type WhereValue =
  | { kind: 'number'; value: number; text: string }
  | { kind: 'address'; range: AddressRange; text: string }
  | { kind: 'text'; lower: string; text: string };

export type WhereExpr =
  | { kind: 'and' | 'or'; left: WhereExpr; right: WhereExpr }
  | { kind: 'not'; operand: WhereExpr }
  | { kind: 'compare'; field: string; op: ComparisonOp; value: WhereValue }
  | { kind: 'in'; field: string; values: WhereValue[] };

const ORDERING: ReadonlySet<string> = new Set(['>', '>=', '<', '<=']);

/** Parses a --where expression; throws WhereError (one line, naming the token) when it is wrong. */
export function parseWhere(text: string): WhereExpr {
  const parser = new WhereParser(tokenizeWhere(text));
  if (parser.peek().kind === 'end') throw new WhereError('read --where: the expression is empty', 1);
  const expr = parser.parseOr();
  const rest = parser.peek();
  if (rest.kind !== 'end') throw parser.error(rest, 'expected "and", "or" or the end of the expression');
  return expr;
}

class WhereParser {
  private pos = 0;

  constructor(private readonly tokens: Token[]) {}

  peek(): Token {
    return this.tokens[this.pos];
  }

  private next(): Token {
    const token = this.tokens[this.pos];
    if (token.kind !== 'end') this.pos++;
    return token;
  }

  private isKeyword(token: Token, word: string): boolean {
    return token.kind === 'word' && token.text.toLowerCase() === word;
  }

  error(token: Token, expected: string): WhereError {
    const what = token.kind === 'end' ? 'the end of the expression' : `"${token.text}"`;
    return new WhereError(`read --where: ${expected}, got ${what} at column ${token.column}`, token.column);
  }

  parseOr(): WhereExpr {
    let left = this.parseAnd();
    while (this.isKeyword(this.peek(), 'or')) {
      this.next();
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): WhereExpr {
    let left = this.parseUnary();
    while (this.isKeyword(this.peek(), 'and')) {
      this.next();
      left = { kind: 'and', left, right: this.parseUnary() };
    }
    return left;
  }

  private parseUnary(): WhereExpr {
    const token = this.peek();
    if (this.isKeyword(token, 'not')) {
      this.next();
      return { kind: 'not', operand: this.parseUnary() };
    }
    if (token.kind === 'lparen') {
      this.next();
      const inner = this.parseOr();
      const close = this.next();
      if (close.kind !== 'rparen') throw this.error(close, 'expected ")"');
      return inner;
    }
    return this.parseTest();
  }

  private parseTest(): WhereExpr {
    const fieldToken = this.next();
    if (fieldToken.kind !== 'word') throw this.error(fieldToken, 'expected a field name');
    const field = fieldToken.text.toLowerCase();
    if (!QUERY_FIELDS.includes(field)) {
      throw new WhereError(
        `read --where: unknown field "${fieldToken.text}" at column ${fieldToken.column} (fields: ${QUERY_FIELDS.join(', ')})`,
        fieldToken.column,
      );
    }
    const opToken = this.next();
    if (this.isKeyword(opToken, 'in')) return { kind: 'in', field, values: this.parseInList(field) };
    if (opToken.kind !== 'op') throw this.error(opToken, `expected an operator (= != > >= < <= in) after ${field}`);
    const op = opToken.text as ComparisonOp;
    const valueToken = this.next();
    const value = this.parseValue(field, valueToken);
    if (ORDERING.has(op) && value.kind !== 'number') {
      throw new WhereError(
        `read --where: operator "${op}" at column ${opToken.column} needs a numeric field and a number, got ${field} ${op} "${valueToken.text}"`,
        opToken.column,
      );
    }
    return { kind: 'compare', field, op, value };
  }

  private parseInList(field: string): WhereValue[] {
    if (this.peek().kind !== 'lparen') return [this.parseValue(field, this.next())];
    this.next();
    const values: WhereValue[] = [this.parseValue(field, this.next())];
    for (;;) {
      const token = this.next();
      if (token.kind === 'rparen') return values;
      if (token.kind !== 'comma') throw this.error(token, 'expected "," or ")" in the in-list');
      values.push(this.parseValue(field, this.next()));
    }
  }

  private parseValue(field: string, token: Token): WhereValue {
    if (token.kind !== 'word' && token.kind !== 'string') throw this.error(token, `expected a value for ${field}`);
    const text = token.text;
    // '-' is how a record writes an absent value, so `srcport=-` finds records without ports.
    if (NUMERIC_FIELDS.has(field) && text !== '-') {
      // Strict decimal: "22abc" or "0x16" is a typo, not a number.
      if (!/^-?\d+(\.\d+)?$/.test(text)) {
        throw new WhereError(
          `read --where: ${field} takes a number, got "${text}" at column ${token.column}`,
          token.column,
        );
      }
      return { kind: 'number', value: Number(text), text };
    }
    if (ADDRESS_FIELDS.has(field) && text !== '-') {
      const range = parseAddressRange(text);
      if (!range) {
        throw new WhereError(
          `read --where: ${field} takes an address or CIDR, got "${text}" at column ${token.column}`,
          token.column,
        );
      }
      return { kind: 'address', range, text };
    }
    return { kind: 'text', lower: text.toLowerCase(), text };
  }
}
