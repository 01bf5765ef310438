/**
 * Named string formats the schema refers to. Each carries the rule in words (rendered into
 * the configuration reference) and the check that enforces it, so the two cannot disagree.
 */
import { parseIpOrCidr, parseMac } from './net-address';

export interface FormatResult {
  ok: boolean;
  /** Normalised value to store (ok only). */
  value?: string;
  /** Why the value is refused (not ok), without the key path. */
  reason?: string;
  /** Accepted, but worth telling the user (ok only). */
  warning?: string;
}

export interface StringFormat {
  /** The rule as a sentence fragment for the reference, e.g. "digits only". */
  rule: string;
  check(value: string): FormatResult;
}

function byPattern(rule: string, re: RegExp, expected: string): StringFormat {
  return {
    rule,
    check: (value) => (re.test(value) ? { ok: true, value } : { ok: false, reason: `${expected}, got "${value}"` }),
  };
}

const SLS_PROJECT_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const SLS_LOGSTORE_RE = /^[a-z0-9][a-z0-9_-]{0,61}[a-z0-9]$/;
const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkHostPort(value: string): FormatResult {
  if (value === '') return { ok: true, value };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535 || (m[2] !== undefined && !HOST_RE.test(m[2]))) {
    return {
      ok: false,
      reason: `must be "host:port" (port 1..65535, "[::1]:9100" for IPv6) or "" to disable, got "${value}"`,
    };
  }
  if (m[1] !== undefined && !parseIpOrCidr(m[1]).ok) {
    return { ok: false, reason: `not an IPv6 address in brackets: "${value}"` };
  }
  return { ok: true, value };
}

function checkHttpUrl(value: string): FormatResult {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, reason: `not a URL: "${value}"` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `must be an http:// or https:// URL, got "${value}"` };
  }
  // Stages append paths ("/latest/meta-data/..."), so a trailing slash would double up.
  return { ok: true, value: value.replace(/\/+$/, '') };
}

const FORMATS = {
  'non-empty': byPattern('non-empty', /^[\s\S]+$/, 'must not be empty'),
  digits: byPattern('digits only', /^[0-9]+$/, 'must be digits only'),
  path: byPattern(
    'a file system path; relative paths are resolved against the directory of the configuration file',
    /^[^\0]+$/,
    'must be a non-empty path',
  ),
  'eni-id': byPattern(
    '"eni-" followed by lower-case letters and digits',
    /^eni-[0-9a-z]+$/,
    'must be an ENI id like "eni-bp1a2b3c4d5e6f7g8h9i"',
  ),
  'flow-log-id': byPattern(
    '1-128 letters, digits, ".", "_" or "-", starting with a letter or digit (used in file and metric names)',
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'must be 1-128 letters, digits, ".", "_" or "-" starting with a letter or digit',
  ),
  'instance-type': byPattern(
    'an ECS instance type such as "ecs.g7.large"; its family is the part before the second dot ("ecs.g7")',
    /^ecs\.[a-z0-9-]+\.[a-z0-9-]+$/,
    'must be an ECS instance type like "ecs.g7.large"',
  ),
  'sls-project': byPattern(
    '3-63 lower-case letters, digits and "-", starting and ending with a letter or digit',
    SLS_PROJECT_RE,
    'must be a Log Service project name: 3-63 lower-case letters, digits and "-", starting and ending with a letter or digit',
  ),
  'sls-logstore': byPattern(
    '2-63 lower-case letters, digits, "-" and "_", starting and ending with a letter or digit',
    SLS_LOGSTORE_RE,
    'must be a Logstore name: 2-63 lower-case letters, digits, "-" and "_", starting and ending with a letter or digit',
  ),
  'sls-endpoint': byPattern(
    'a host name such as "cn-hangzhou-intranet.log.aliyuncs.com", optionally with "https://" or "http://"',
    /^(?:https?:\/\/)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/,
    'must be a Log Service endpoint host like "cn-hangzhou.log.aliyuncs.com"',
  ),
  mac: {
    rule: 'a MAC address; "00:16:3E:AA:BB:CC", "00-16-3e-aa-bb-cc" and "0016.3eaa.bbcc" are stored as "00:16:3e:aa:bb:cc"',
    check: (value) => {
      const parsed = parseMac(value);
      return parsed.ok ? { ok: true, value: parsed.value } : { ok: false, reason: parsed.reason };
    },
  },
  'ip-or-cidr': {
    rule: 'an IPv4 or IPv6 address ("10.0.1.5", "2001:db8::5") or CIDR ("10.0.1.0/24"); no zone ids, no leading zeros',
    check: (value) => {
      const parsed = parseIpOrCidr(value);
      if (!parsed.ok) return { ok: false, reason: parsed.reason };
      const warning = parsed.value.hostBitsSet
        ? `"${value}" has host bits set; it covers the whole network ${parsed.value.cidr}`
        : undefined;
      return { ok: true, value, warning };
    },
  },
  'host-port': {
    rule: '"host:port" ("[::1]:9100" for IPv6), or "" to disable',
    check: checkHostPort,
  },
  'http-url': { rule: 'an http:// or https:// URL (a trailing "/" is dropped)', check: checkHttpUrl },
} satisfies Record<string, StringFormat>;

export type StringFormatName = keyof typeof FORMATS;
export const STRING_FORMATS: Readonly<Record<StringFormatName, StringFormat>> = FORMATS;
