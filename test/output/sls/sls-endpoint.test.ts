import { describe, expect, it } from 'vitest';
import { resolveSlsEndpoint } from '../../../src/output/sls/sls-endpoint';
import { retryAfterMs } from '../../../src/output/sls/sls-outcome';

describe('resolveSlsEndpoint', () => {
  it.each([
    [
      { region: 'cn-hangzhou' },
      undefined,
      { sdkEndpoint: 'https://cn-hangzhou.log.aliyuncs.com', host: 'cn-hangzhou.log.aliyuncs.com', useHttps: true },
    ],
    [
      { region: 'cn-hangzhou', intranet: true },
      undefined,
      {
        sdkEndpoint: 'https://cn-hangzhou-intranet.log.aliyuncs.com',
        host: 'cn-hangzhou-intranet.log.aliyuncs.com',
        useHttps: true,
      },
    ],
    [
      {},
      'ap-southeast-1',
      {
        sdkEndpoint: 'https://ap-southeast-1.log.aliyuncs.com',
        host: 'ap-southeast-1.log.aliyuncs.com',
        useHttps: true,
      },
    ],
    [
      { region: 'cn-beijing' },
      'ap-southeast-1',
      { sdkEndpoint: 'https://cn-beijing.log.aliyuncs.com', host: 'cn-beijing.log.aliyuncs.com', useHttps: true },
    ],
    [
      { endpoint: 'cn-shanghai-intranet.log.aliyuncs.com', region: 'cn-beijing' },
      undefined,
      {
        sdkEndpoint: 'https://cn-shanghai-intranet.log.aliyuncs.com',
        host: 'cn-shanghai-intranet.log.aliyuncs.com',
        useHttps: true,
      },
    ],
    [
      { endpoint: 'http://cn-shanghai.log.aliyuncs.com' },
      undefined,
      { sdkEndpoint: 'http://cn-shanghai.log.aliyuncs.com', host: 'cn-shanghai.log.aliyuncs.com', useHttps: false },
    ],
    [
      { endpoint: 'http://127.0.0.1:8080' },
      undefined,
      { sdkEndpoint: 'http://127.0.0.1:8080', host: '127.0.0.1:8080', useHttps: false, connectAddress: '127.0.0.1' },
    ],
    [
      { endpoint: 'http://localhost:9000' },
      undefined,
      { sdkEndpoint: 'http://localhost:9000', host: 'localhost:9000', useHttps: false, connectAddress: '127.0.0.1' },
    ],
    [
      { endpoint: 'https://10.1.2.3' },
      undefined,
      { sdkEndpoint: 'https://10.1.2.3', host: '10.1.2.3', useHttps: true, connectAddress: '10.1.2.3' },
    ],
  ])('%j (agent region %s)', (sink, agentRegion, expected) => {
    expect(resolveSlsEndpoint(sink, agentRegion)).toEqual(expected);
  });

  it.each([
    [{}, undefined, /neither endpoint nor region/],
    [{ endpoint: 'ftp://x.example' }, undefined, /scheme must be http or https/],
    [{ endpoint: 'http://x.example/path' }, undefined, /without path or query/],
    [{ endpoint: 'http://[::1]:8080' }, undefined, /IPv6 literal endpoints are not supported/],
  ])('refuses %j', (sink, agentRegion, message) => {
    expect(() => resolveSlsEndpoint(sink, agentRegion)).toThrow(message);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  it.each([
    [undefined, 1000],
    ['', 1000],
    ['7', 7000],
    ['0', 0],
    [' 12 ', 12_000],
    ['Tue, 01 Jan 2030 00:00:30 GMT', 30_000],
    ['Mon, 31 Dec 2029 23:59:00 GMT', 0],
    ['soon', 1000],
    ['86400', 3_600_000],
  ])('Retry-After %j -> %d ms', (header, expected) => {
    expect(retryAfterMs({ retryAfter: header }, 1000, now)).toBe(expected);
  });
});
