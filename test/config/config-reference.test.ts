import { describe, expect, it } from 'vitest';
import { renderConfigReference } from '../../src/config/reference';
import { AGENT_SCHEMA, SUPPORTED_REGIONS, UNSUPPORTED_INSTANCE_FAMILIES } from '../../src/config/schema';
import type { FieldSchema, ValueSchema } from '../../src/config/schema-types';

/** Every key path of the schema, lists as `[]`, variant fields under their shared prefix. */
function keyPaths(fields: readonly FieldSchema[], prefix: string): string[] {
  const out: string[] = [];
  for (const field of fields) {
    const path = prefix ? `${prefix}.${field.key}` : field.key;
    out.push(path);
    let type: ValueSchema = field.type;
    let inner = path;
    if (type.kind === 'list') {
      type = type.items;
      inner = `${path}[]`;
    }
    if (type.kind === 'object') out.push(...keyPaths(type.fields, inner));
    if (type.kind === 'variant') {
      out.push(`${inner}.${type.tag}`);
      for (const v of type.variants) out.push(...keyPaths(v.fields, inner));
    }
  }
  return out;
}

describe('renderConfigReference', () => {
  const reference = renderConfigReference();
  const paths = keyPaths(AGENT_SCHEMA.fields, '');

  it('walks a schema of the expected size', () => {
    // 15 top-level keys; a sample of nested ones proves the walk descends into lists and variants.
    expect(AGENT_SCHEMA.fields).toHaveLength(15);
    expect(paths).toEqual(
      expect.arrayContaining([
        'overlay.vpcs[].vni',
        'enis[].ips',
        'flowLogs[].sink.type',
        'flowLogs[].sink.logstore',
        'delivery.spoolMaxBytes',
      ]),
    );
  });

  it('lists every schema key in a table row', () => {
    for (const path of paths) {
      expect(reference, path).toMatch(new RegExp(`^\\| \`${path.replace(/[.[\]]/g, '\\$&')}\` \\|`, 'm'));
    }
  });

  it('documents defaults in their written units', () => {
    expect(reference).toMatch(/^\| `capture\.totalBufferBytes` \| [^|]+ \| 268435456 \(256 MiB\) \|/m);
    expect(reference).toMatch(/^\| `flowLogs\[\]\.aggregationInterval` \| minutes or duration \| 10 \|/m);
    expect(reference).toMatch(/^\| `region` \| enum \| \*\*required\*\* \|/m);
  });

  it('names every supported region and unsupported instance family', () => {
    for (const region of SUPPORTED_REGIONS) expect(reference).toContain(`\`${region}\``);
    for (const family of UNSUPPORTED_INSTANCE_FAMILIES) expect(reference).toContain(family);
  });
});
