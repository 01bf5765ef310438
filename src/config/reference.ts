/**
 * The Markdown configuration reference, rendered from the same schema the validator enforces
 * (docs/configuration.md embeds this output, written by `npm run docs:config`, so the two cannot drift).
 */
import { AGENT_SCHEMA } from './schema';
import type { FieldSchema, ObjectSchema, ValueSchema } from './schema-types';
import { STRING_FORMATS } from './string-formats';
import { BYTE_UNITS, formatByteSize } from './units';

const code = (text: string) => `\`${text}\``;
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeName(schema: ValueSchema, unit?: string): string {
  const withUnit = (base: string) => (unit ? `${base} (${unit})` : base);
  switch (schema.kind) {
    case 'string':
      return 'string';
    case 'integer': {
      const range =
        schema.min !== undefined && schema.max !== undefined
          ? ` ${schema.min}..${schema.max}`
          : schema.min !== undefined
            ? ` ≥ ${schema.min}`
            : schema.max !== undefined
              ? ` ≤ ${schema.max}`
              : '';
      return withUnit(`integer${range}`);
    }
    case 'boolean':
      return 'boolean';
    case 'enum':
      return 'enum';
    case 'bytes': {
      const range =
        schema.min !== undefined && schema.max !== undefined
          ? ` ${schema.min}..${schema.max}`
          : schema.min !== undefined
            ? ` ≥ ${schema.min}`
            : '';
      return `size${range} (bytes)`;
    }
    case 'window':
      return 'minutes or duration';
    case 'object':
      return 'mapping';
    case 'variant':
      return 'mapping (by type)';
    case 'map':
      return `map of string to ${typeName(schema.values)}`;
    case 'list':
      return `list of ${schema.items.kind === 'object' ? 'mappings' : schema.items.kind === 'string' ? 'strings' : typeName(schema.items)}`;
  }
}

function defaultText(field: FieldSchema): string {
  if (field.required) return '**required**';
  const value = field.default;
  if (value === undefined) {
    if (field.type.kind === 'object' && !field.omitWhenAbsent) return 'see below';
    return '—';
  }
  if (field.type.kind === 'window') return String((value as number) / 60);
  if (field.type.kind === 'bytes') {
    const bytes = value as number;
    const size = formatByteSize(bytes);
    return size === `${bytes} B` ? String(bytes) : `${bytes} (${size})`;
  }
  if (typeof value === 'string') return value === '' ? '`""`' : code(value);
  return code(JSON.stringify(value));
}

/** Rule text beyond the field's own doc: format, allowed values. */
function ruleText(schema: ValueSchema): string {
  switch (schema.kind) {
    case 'string':
      return schema.format ? ` Format: ${STRING_FORMATS[schema.format].rule}.` : '';
    case 'enum':
      return ` One of ${schema.values.map(code).join(', ')}.`;
    case 'list':
      return schema.maxItems
        ? ` At most ${schema.maxItems.count} ${schema.maxItems.noun}.${ruleText(schema.items)}`
        : ruleText(schema.items);
    case 'map':
      return ruleText(schema.values);
    default:
      return '';
  }
}

interface Section {
  title: string;
  doc?: string;
  fields: readonly FieldSchema[];
  /** Path prefix of the keys, '' for the top level. */
  prefix: string;
  rules?: readonly string[];
}

/** Every mapping of the schema as a section, depth first in schema order. */
function sections(title: string, prefix: string, schema: ObjectSchema, doc?: string, out: Section[] = []): Section[] {
  out.push({ title, doc, fields: schema.fields, prefix, rules: schema.rules });
  for (const field of schema.fields) {
    const path = prefix ? `${prefix}.${field.key}` : field.key;
    let inner: ValueSchema = field.type;
    let innerPath = path;
    if (inner.kind === 'list' && (inner.items.kind === 'object' || inner.items.kind === 'variant')) {
      inner = inner.items;
      innerPath = `${path}[]`;
    }
    if (inner.kind === 'object') sections(code(innerPath), innerPath, inner, field.doc, out);
    if (inner.kind === 'variant') {
      for (const variant of inner.variants) {
        const tag: FieldSchema = {
          key: inner.tag,
          type: { kind: 'string' },
          required: true,
          doc: `${code(variant.name)} selects this form.`,
        };
        sections(
          `${code(innerPath)} with ${code(`${inner.tag}: ${variant.name}`)}`,
          innerPath,
          { kind: 'object', fields: [tag, ...variant.fields] },
          variant.doc,
          out,
        );
      }
    }
  }
  return out;
}

/**
 * The reference as Markdown (level-3 headings and below), one table per mapping, every key
 * by its full path (`flowLogs[].sink.project`).
 */
export function renderConfigReference(): string {
  const lines: string[] = [
    '### Configuration reference',
    '',
    'The configuration is one YAML file (`--config FILE`). Keys are camelCase; an unknown key is an error, and a file with any error is refused whole, every problem listed with its key path and line (`flowlog-agent validate --config FILE` checks a file without starting anything). List indexes in messages count from 0.',
    '',
    `Sizes are a number of bytes or a string with a unit (${Object.keys(BYTE_UNITS).map(code).join(', ')}), e.g. \`"64MiB"\`. Relative paths are resolved against the directory of the configuration file.`,
    '',
  ];
  for (const section of sections('Top level', '', AGENT_SCHEMA)) {
    lines.push(`#### ${section.title}`, '');
    if (section.doc) lines.push(section.doc, '');
    if (section.fields.length > 0) {
      lines.push('| Key | Type | Default | Description |', '| --- | --- | --- | --- |');
      for (const field of section.fields) {
        const path = section.prefix ? `${section.prefix}.${field.key}` : field.key;
        lines.push(
          `| ${code(path)} | ${cell(typeName(field.type, field.unit))} | ${cell(defaultText(field))} | ${cell(field.doc + ruleText(field.type))} |`,
        );
      }
      lines.push('');
    }
    for (const rule of section.rules ?? []) lines.push(`- ${rule}`);
    if (section.rules?.length) lines.push('');
  }
  return lines.join('\n');
}
