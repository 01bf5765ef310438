/**
 * Checks a parsed YAML document against the declarative schema and builds the config value
 * (defaults applied, units normalised). Every problem is collected, none thrown: a value that
 * is wrong becomes undefined in the output and the walk continues, so one run reports all.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { ConfigProblem } from './types';
import type { FieldSchema, ListSchema, ValueSchema, VariantSchema, WindowSchema } from './schema-types';
import { PLACEHOLDER } from './placeholder';
import { STRING_FORMATS } from './string-formats';
import { parseByteSize, parseDurationSec } from './units';
import { closestWord, describeNode, joinOr } from './wording';

/** Longest window a duration string may give (the product's longest is 10 minutes). */
const MAX_WINDOW_DURATION_SEC = 3600;

/** State of one walk: where problems go and where each key path sits in the file. */
export class SchemaWalk {
  readonly problems: ConfigProblem[] = [];
  /** 1-based line of the value (or key) at each visited key path; cross-checks use it. */
  readonly lines = new Map<string, number>();

  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
  ) {}

  lineOf(node: Node | null | undefined): number | undefined {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : this.lineCounter.linePos(offset).line;
  }

  error(path: string, message: string, line: number | undefined): void {
    this.problems.push({ severity: 'error', path, message, ...(line !== undefined && { line }) });
  }

  warning(path: string, message: string, line: number | undefined): void {
    this.problems.push({ severity: 'warning', path, message, ...(line !== undefined && { line }) });
  }

  /** Follows aliases (`*anchor`) to the node they name. */
  private resolve(node: unknown): Node | null | undefined {
    if (isAlias(node)) return node.resolve(this.doc);
    return node as Node | null | undefined;
  }

  /**
   * The value of `rawNode` per `schema`, or undefined when it is wrong (a problem is recorded).
   * `keyLine` locates problems when the value itself has no position (an empty value).
   */
  value(rawNode: unknown, schema: ValueSchema, path: string, keyLine: number | undefined): unknown {
    const node = this.resolve(rawNode);
    const line = this.lineOf(node) ?? keyLine;
    if (line !== undefined && !this.lines.has(path)) this.lines.set(path, line);
    if (!node || (isScalar(node) && node.value === null)) {
      const hint = schema.kind === 'list' ? ' (write [] for an empty list)' : '';
      this.error(path, `has no value${hint}`, line);
      return undefined;
    }
    switch (schema.kind) {
      case 'object':
        return this.object(node, schema.fields, path, '');
      case 'variant':
        return this.variant(node, schema, path);
      case 'list':
        return this.list(node, schema, path, line);
      case 'map':
        return this.map(node, schema.values, path);
      default:
        if (!isScalar(node)) {
          this.error(path, `must be ${describeSchema(schema)}, got ${describeNode(node)}`, line);
          return undefined;
        }
        return this.scalar(node.value, node.source, schema, path, line);
    }
  }

  private scalar(
    value: unknown,
    source: string | undefined,
    schema: ValueSchema,
    path: string,
    line: number | undefined,
  ): unknown {
    const fail = (message: string) => {
      this.error(path, message, line);
      return undefined;
    };
    const got = describeNode(value);
    // Left by `flowlog-agent init` where only the operator knows the value.
    if (typeof value === 'string' && value.includes(PLACEHOLDER))
      return fail(`is a placeholder ("${value}"): put the real value`);
    switch (schema.kind) {
      case 'string': {
        let text: string;
        if (typeof value === 'string') {
          text = value;
        } else if (typeof value === 'number' && schema.acceptExactDigitsNumber) {
          const digits = source ?? String(value);
          if (!/^[0-9]+$/.test(digits) || !Number.isSafeInteger(value) || String(value) !== digits) {
            return fail(
              `must be a string of digits; the number ${digits} is not kept exactly by YAML: quote it ("${digits}")`,
            );
          }
          text = digits;
        } else {
          return fail(
            `must be a string, got ${got}${typeof value === 'number' || typeof value === 'boolean' ? ': quote it' : ''}`,
          );
        }
        if (!schema.format) return text;
        const result = STRING_FORMATS[schema.format].check(text);
        if (!result.ok) return fail(result.reason ?? 'is not valid');
        if (result.warning) this.warning(path, result.warning, line);
        return result.value;
      }
      case 'integer':
        if (typeof value !== 'number' || !Number.isSafeInteger(value)) return fail(`must be an integer, got ${got}`);
        return this.inRange(value, schema.min, schema.max, path, line) ? value : undefined;
      case 'boolean':
        return typeof value === 'boolean' ? value : fail(`must be true or false, got ${got}`);
      case 'enum': {
        if (typeof value === 'string' && schema.values.includes(value)) return value;
        const near = typeof value === 'string' ? closestWord(value, schema.values) : undefined;
        const meaning = schema.meaning ? `${schema.meaning}, ` : '';
        return fail(
          `must be ${meaning}one of ${joinOr(schema.values)}, got ${got}${near ? ` (did you mean "${near}"?)` : ''}`,
        );
      }
      case 'bytes': {
        let bytes: number;
        if (typeof value === 'number' && Number.isSafeInteger(value)) {
          bytes = value;
        } else if (typeof value === 'string') {
          const parsed = parseByteSize(value);
          if (!parsed.ok) return fail(parsed.reason);
          bytes = parsed.value;
        } else {
          return fail(`must be a number of bytes or a size such as "64MiB", got ${got}`);
        }
        return this.inRange(bytes, schema.min, schema.max, path, line) ? bytes : undefined;
      }
      case 'window':
        return this.window(value, schema, path, line);
      default:
        return fail(`must be ${describeSchema(schema)}, got ${got}`);
    }
  }

  private inRange(
    value: number,
    min: number | undefined,
    max: number | undefined,
    path: string,
    line: number | undefined,
  ): boolean {
    if (min !== undefined && value < min) {
      this.error(path, `must be at least ${min}, got ${value}`, line);
      return false;
    }
    if (max !== undefined && value > max) {
      this.error(path, `must be at most ${max}, got ${value}`, line);
      return false;
    }
    return true;
  }

  private window(value: unknown, schema: WindowSchema, path: string, line: number | undefined): number | undefined {
    const allowed = `${joinOr(schema.minutes.map(String))} minutes`;
    if (typeof value === 'number') {
      if (schema.minutes.includes(value)) return value * 60;
      this.error(path, `must be ${allowed}, got ${value}`, line);
      return undefined;
    }
    if (typeof value !== 'string') {
      this.error(path, `must be ${allowed}, got ${describeNode(value)}`, line);
      return undefined;
    }
    const parsed = parseDurationSec(value);
    if (!parsed.ok) {
      this.error(path, `must be ${allowed} or a duration such as "30s": ${parsed.reason}`, line);
      return undefined;
    }
    if (parsed.value > MAX_WINDOW_DURATION_SEC) {
      // A flow table stores times as offsets that reach 9 hours; demos need far less.
      this.error(
        path,
        `must be at most ${MAX_WINDOW_DURATION_SEC / 60} minutes (the product offers ${allowed}), got "${value}" (${parsed.value}s)`,
        line,
      );
      return undefined;
    }
    if (!schema.minutes.some((m) => m * 60 === parsed.value)) {
      this.warning(
        path,
        `"${value}" (${parsed.value}s) accepted for tests and demos only: the product offers ${allowed}`,
        line,
      );
    }
    return parsed.value;
  }

  private list(node: Node, schema: ListSchema, path: string, line: number | undefined): unknown[] | undefined {
    if (!isSeq(node)) {
      this.error(path, `must be a list, got ${describeNode(node)}`, line);
      return undefined;
    }
    if (schema.maxItems && node.items.length > schema.maxItems.count) {
      this.error(path, `at most ${schema.maxItems.count} ${schema.maxItems.noun}, got ${node.items.length}`, line);
    }
    return node.items.map((item, i) => this.value(item, schema.items, `${path}[${i}]`, line));
  }

  private map(node: Node, values: ValueSchema, path: string): Record<string, unknown> | undefined {
    if (!isMap(node)) {
      this.error(path, `must be a mapping, got ${describeNode(node)}`, this.lineOf(node));
      return undefined;
    }
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = this.keyOf(pair);
      const keyLine = this.lineOf(pair.key as Node);
      if (key === undefined || key === '') {
        this.error(path, `keys must be non-empty strings, got ${describeNode(pair.key)}`, keyLine);
        continue;
      }
      out[key] = this.value(pair.value, values, `${path}.${key}`, keyLine);
    }
    return out;
  }

  private keyOf(pair: Pair): string | undefined {
    const key = this.resolve(pair.key);
    return isScalar(key) && typeof key.value === 'string' ? key.value : undefined;
  }

  /**
   * A mapping with fixed keys. An absent section (`node` undefined) is built from defaults.
   * `allowedExtra` names keys handled by the caller (a variant's tag); `context` qualifies the
   * unknown-key message.
   */
  object(
    node: Node | undefined,
    fields: readonly FieldSchema[],
    path: string,
    context: string,
    allowedExtra?: string,
  ): Record<string, unknown> | undefined {
    const at = (key: string) => (path === '' ? key : `${path}.${key}`);
    const pairs = new Map<string, Pair>();
    if (node !== undefined) {
      if (!isMap(node)) {
        this.error(path, `must be a mapping, got ${describeNode(node)}`, this.lineOf(node));
        return undefined;
      }
      const known = fields.map((f) => f.key).concat(allowedExtra ?? []);
      for (const pair of node.items) {
        const key = this.keyOf(pair);
        const keyLine = this.lineOf(pair.key as Node);
        if (key !== undefined && known.includes(key)) {
          pairs.set(key, pair);
          continue;
        }
        const name = key ?? String(describeNode(pair.key));
        const near = key !== undefined ? closestWord(key, known) : undefined;
        const hint = near ? `did you mean "${near}"?` : `expected ${known.length ? joinOr(known) : 'no other keys'}`;
        this.error(at(name), `unknown key${context} (${hint})`, keyLine);
      }
    }
    const out: Record<string, unknown> = {};
    for (const field of fields) {
      const outKey = field.outputKey ?? field.key;
      const pair = pairs.get(field.key);
      if (pair) {
        out[outKey] = this.value(pair.value, field.type, at(field.key), this.lineOf(pair.key as Node));
      } else if (field.required) {
        this.error(at(field.key), 'required key is missing', path === '' ? undefined : this.lineOf(node));
      } else if (field.default !== undefined) {
        out[outKey] = structuredClone(field.default);
      } else if (field.type.kind === 'object' && !field.omitWhenAbsent) {
        out[outKey] = this.object(undefined, field.type.fields, at(field.key), '');
      }
    }
    return out;
  }

  private variant(node: Node, schema: VariantSchema, path: string): Record<string, unknown> | undefined {
    const line = this.lineOf(node);
    if (!isMap(node)) {
      this.error(path, `must be a mapping, got ${describeNode(node)}`, line);
      return undefined;
    }
    const names = schema.variants.map((v) => v.name);
    const tagPath = `${path}.${schema.tag}`;
    const tagPair = node.items.find((p) => this.keyOf(p) === schema.tag);
    if (!tagPair) {
      this.error(tagPath, `required key is missing (one of ${joinOr(names)})`, line);
      return undefined;
    }
    const tag = this.value(tagPair.value, { kind: 'enum', values: names }, tagPath, this.lineOf(tagPair.key as Node));
    const chosen = schema.variants.find((v) => v.name === tag);
    if (!chosen) return undefined;
    const fields = this.object(node, chosen.fields, path, ` for ${schema.tag} ${chosen.name}`, schema.tag);
    return fields && { [schema.tag]: chosen.name, ...fields };
  }
}

/** "an integer", "one of a, b or c": what a value of `schema` is, for messages. */
export function describeSchema(schema: ValueSchema): string {
  switch (schema.kind) {
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${joinOr(schema.values)}`;
    case 'bytes':
      return 'a number of bytes or a size such as "64MiB"';
    case 'window':
      return `${joinOr(schema.minutes.map(String))} minutes`;
    case 'list':
      return 'a list';
    default:
      return 'a mapping';
  }
}
