/** The `metrics.listen` value ("127.0.0.1:9465", "[::1]:9465", "localhost:9465") as host and port. */

export interface ListenAddress {
  /** Without brackets: "::1". */
  host: string;
  /** 0 lets the system choose (tests). */
  port: number;
}

/** Parses `text`; undefined when it is not "host:port". The config loader has already refused bad values. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

/** "host:port" for a URL: IPv6 hosts in brackets. */
export function formatHostPort(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Whether `host` (as parseListenAddress gives it) can only be reached from this machine:
 * 127.0.0.0/8, ::1, ::ffff:127.x.x.x and `localhost`. Any other name is not known to be, so it
 * counts as reachable from outside.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(h);
  return v4 !== null && Number(v4[1]) === 127;
}
