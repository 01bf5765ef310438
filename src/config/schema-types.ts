/**
 * The vocabulary of the declarative configuration schema. A schema is plain data: the
 * validator (schema-walk.ts) and the reference renderer (reference.ts) both read it, so the
 * documentation cannot drift from what is enforced.
 */
import type { StringFormatName } from './string-formats';

export interface StringSchema {
  kind: 'string';
  /** Rule beyond "a string" (also documented); absent: any string, '' included. */
  format?: StringFormatName;
  /**
   * Accept a YAML integer too, when its text is exactly digits that a JS number holds without
   * loss (account ids are long digit strings; YAML reads them unquoted as numbers).
   */
  acceptExactDigitsNumber?: boolean;
}

export interface IntegerSchema {
  kind: 'integer';
  min?: number;
  max?: number;
}

export interface BooleanSchema {
  kind: 'boolean';
}

export interface EnumSchema {
  kind: 'enum';
  values: readonly string[];
  /** What the values are, for messages: "a region where flow logs are offered". */
  meaning?: string;
}

/** A byte count: an integer, or a string with a unit such as "64MiB" (see units.ts). */
export interface BytesSchema {
  kind: 'bytes';
  min?: number;
  max?: number;
}

/**
 * An aggregation window, stored in seconds: one of `minutes` as a plain number, or a
 * duration string ("30s", "2m") for tests and demos, which is accepted with a warning unless
 * it equals one of `minutes`.
 */
export interface WindowSchema {
  kind: 'window';
  minutes: readonly number[];
}

export interface ObjectSchema {
  kind: 'object';
  fields: readonly FieldSchema[];
  /**
   * Cross-field rule in words, for the reference only (enforced in cross-checks.ts because it
   * needs more than one value).
   */
  rules?: readonly string[];
}

export interface ListSchema {
  kind: 'list';
  items: ValueSchema;
  /** Most items, and the noun for the message "at most N <noun>, got M". */
  maxItems?: { count: number; noun: string };
}

/** A mapping with free-form keys (non-empty) to values of one schema. */
export interface MapSchema {
  kind: 'map';
  values: ValueSchema;
}

/** A mapping whose `tag` key ("type") picks which set of fields applies. */
export interface VariantSchema {
  kind: 'variant';
  tag: string;
  variants: readonly VariantCase[];
}

export interface VariantCase {
  /** Value of the tag key that selects this case. */
  name: string;
  doc: string;
  /** Fields besides the tag key. */
  fields: readonly FieldSchema[];
}

export type ValueSchema =
  | StringSchema
  | IntegerSchema
  | BooleanSchema
  | EnumSchema
  | BytesSchema
  | WindowSchema
  | ObjectSchema
  | ListSchema
  | MapSchema
  | VariantSchema;

export interface FieldSchema {
  /** The camelCase key in the YAML file. */
  key: string;
  type: ValueSchema;
  /** One sentence or two, rendered verbatim in the reference. */
  doc: string;
  /** Unit of a numeric value, shown in the reference ("ms", "seconds", "bytes"). */
  unit?: string;
  required?: boolean;
  /**
   * Value stored when the key is absent (in output units: bytes, seconds). Absent and no
   * default: an object is built from its fields' defaults; other types stay undefined.
   */
  default?: unknown;
  /** An absent object section stays undefined instead of being filled with defaults. */
  omitWhenAbsent?: boolean;
  /** Property name in AgentConfig when it differs from `key` (normalised units). */
  outputKey?: string;
}
