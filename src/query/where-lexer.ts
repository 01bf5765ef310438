/**
 * Tokens of the `query --where` language. Operator tool, off the packet path: plain objects.
 *
 *   action=REJECT and (dstport in (22,3389) or srcaddr in 10.0.0.0/8) and not protocol=1
 */

export type TokenKind = 'word' | 'string' | 'op' | 'lparen' | 'rparen' | 'comma' | 'end';

/** Comparison operators; `in` is a keyword (a word token), not listed here. */
export type ComparisonOp = '=' | '!=' | '>' | '>=' | '<' | '<=';

export interface Token {
  kind: TokenKind;
  /** The text as written (for a quoted string: without the quotes, escapes resolved). */
  text: string;
  /** 1-based column of the token's first character in the expression. */
  column: number;
}

/**
 * A --where expression that cannot be read. `message` is one line naming the offending token
 * and its column, ready to print after the command name.
 */
export class WhereError extends Error {
  override readonly name = 'WhereError';
  constructor(
    message: string,
    /** 1-based column of the offending token. */
    readonly column: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// A bare word runs until whitespace or a character with meaning of its own. Addresses
// ("10.0.0.0/8", "2001:db8::/32"), field names ("log-status") and numbers are all words.
const WORD_CHAR = /[^\s()=!<>,'"]/;

/** Splits `text` into tokens, ending with one `end` token; throws WhereError on a stray character. */
export function tokenizeWhere(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    const column = i + 1;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '(') {
      tokens.push({ kind: 'lparen', text: ch, column });
      i++;
    } else if (ch === ')') {
      tokens.push({ kind: 'rparen', text: ch, column });
      i++;
    } else if (ch === ',') {
      tokens.push({ kind: 'comma', text: ch, column });
      i++;
    } else if (ch === '=' || ch === '<' || ch === '>' || ch === '!') {
      const two = text.slice(i, i + 2);
      if (two === '!=' || two === '>=' || two === '<=') {
        tokens.push({ kind: 'op', text: two, column });
        i += 2;
      } else if (ch === '!') {
        throw new WhereError(`read --where: "!" at column ${column} must be followed by "=" (or use "not")`, column);
      } else {
        // "==" is a common habit; accept it as "=" rather than fail on it.
        const len = two === '==' ? 2 : 1;
        tokens.push({ kind: 'op', text: ch, column });
        i += len;
      }
    } else if (ch === "'" || ch === '"') {
      const close = text.indexOf(ch, i + 1);
      if (close < 0) {
        throw new WhereError(
          `read --where: unterminated string starting at column ${column}: ${text.slice(i)}`,
          column,
        );
      }
      tokens.push({ kind: 'string', text: text.slice(i + 1, close), column });
      i = close + 1;
    } else {
      // Anything else starts a word (WORD_CHAR excludes exactly the characters handled above).
      let j = i;
      while (j < text.length && WORD_CHAR.test(text[j])) j++;
      tokens.push({ kind: 'word', text: text.slice(i, j), column });
      i = j;
    }
  }
  tokens.push({ kind: 'end', text: '', column: text.length + 1 });
  return tokens;
}
