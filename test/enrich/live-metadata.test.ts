/**
 * The ECS metadata client against a local metadata server on 127.0.0.1: the hardened token flow,
 * the fallback to normal mode only when allowed, and the answer turned into live ENIs by MAC.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EcsMetadataClient, MetadataError } from '../../src/enrich/ecs-metadata';
import { enisFromMetadata, resolveLiveEnis } from '../../src/enrich/eni-discovery';
import type { FlowLogConfig } from '../../src/config/types';

const TOKEN = 'tok-123';
const META: Record<string, string> = {
  'instance-id': 'i-bp1meta',
  'instance/instance-type': 'ecs.g7.large',
  'region-id': 'cn-hangzhou',
  'owner-account-id': '1234567890123456',
  'network/interfaces/macs/': '00:16:3e:00:00:01/\n00:16:3e:00:00:02/',
  'network/interfaces/macs/00:16:3e:00:00:01/network-interface-id': 'eni-bp1primary',
  'network/interfaces/macs/00:16:3e:00:00:01/vpc-id': 'vpc-bp1a',
  'network/interfaces/macs/00:16:3e:00:00:01/vswitch-id': 'vsw-bp1a',
  'network/interfaces/macs/00:16:3e:00:00:01/primary-ip-address': '192.168.0.10',
  'network/interfaces/macs/00:16:3e:00:00:01/private-ipv4s': '["192.168.0.10","192.168.0.11"]',
  'network/interfaces/macs/00:16:3e:00:00:01/ipv6s': '["2408:4000::10"]',
  'network/interfaces/macs/00:16:3e:00:00:02/network-interface-id': 'eni-bp1second',
  'network/interfaces/macs/00:16:3e:00:00:02/vpc-id': 'vpc-bp1b',
  'network/interfaces/macs/00:16:3e:00:00:02/vswitch-id': 'vsw-bp1b',
  'network/interfaces/macs/00:16:3e:00:00:02/primary-ip-address': '192.168.1.20',
  'network/interfaces/macs/00:16:3e:00:00:02/private-ipv4s': '["192.168.1.20"]',
};

interface Seen {
  method: string;
  url: string;
  token?: string;
  ttl?: string;
}

function metadataServer(mode: 'hardened-only' | 'no-token'): { server: Server; seen: Seen[] } {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const token = req.headers['x-aliyun-ecs-metadata-token'] as string | undefined;
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      token,
      ttl: req.headers['x-aliyun-ecs-metadata-token-ttl-seconds'] as string | undefined,
    });
    if (req.url === '/latest/api/token') {
      if (mode === 'no-token' || req.method !== 'PUT') return void res.writeHead(403).end();
      return void res.writeHead(200).end(TOKEN);
    }
    if (mode === 'hardened-only' && token !== TOKEN) return void res.writeHead(401).end();
    const key = (req.url ?? '').replace('/latest/meta-data/', '');
    if (META[key] === undefined) return void res.writeHead(404).end();
    res.writeHead(200).end(META[key]);
  });
  return { server, seen };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('ECS metadata discovery', () => {
  const hardened = metadataServer('hardened-only');
  const tokenless = metadataServer('no-token');
  let hardenedUrl = '';
  let tokenlessUrl = '';
  beforeAll(async () => {
    hardenedUrl = await listen(hardened.server);
    tokenlessUrl = await listen(tokenless.server);
  });
  afterAll(() => {
    hardened.server.close();
    tokenless.server.close();
  });

  it('reads the instance and its ENIs in hardened mode, one token for every read', async () => {
    const client = new EcsMetadataClient({ metadataUrl: hardenedUrl, hardened: true, allowNormalMode: false });
    const md = await client.read();
    expect(md).toEqual({
      instanceId: 'i-bp1meta',
      instanceType: 'ecs.g7.large',
      regionId: 'cn-hangzhou',
      ownerAccountId: '1234567890123456',
      enis: [
        {
          mac: '00:16:3e:00:00:01',
          eniId: 'eni-bp1primary',
          vpcId: 'vpc-bp1a',
          vswitchId: 'vsw-bp1a',
          primaryIp: '192.168.0.10',
          ips: ['192.168.0.10', '192.168.0.11', '2408:4000::10'],
        },
        {
          mac: '00:16:3e:00:00:02',
          eniId: 'eni-bp1second',
          vpcId: 'vpc-bp1b',
          vswitchId: 'vsw-bp1b',
          primaryIp: '192.168.1.20',
          ips: ['192.168.1.20'],
        },
      ],
    });
    expect(client.mode).toBe('hardened');
    const puts = hardened.seen.filter((s) => s.url === '/latest/api/token');
    expect(puts).toEqual([{ method: 'PUT', url: '/latest/api/token', token: undefined, ttl: '21600' }]);
    expect(hardened.seen.filter((s) => s.url !== '/latest/api/token').every((s) => s.token === TOKEN)).toBe(true);
  });

  it('refuses normal mode unless allowed, and uses it when allowed', async () => {
    const strict = new EcsMetadataClient({ metadataUrl: tokenlessUrl, hardened: true, allowNormalMode: false });
    await expect(strict.read()).rejects.toThrow(MetadataError);
    await expect(strict.read()).rejects.toThrow('get metadata token: HTTP 403');
    const lenient = new EcsMetadataClient({ metadataUrl: tokenlessUrl, hardened: true, allowNormalMode: true });
    expect((await lenient.read()).enis.map((e) => e.eniId)).toEqual(['eni-bp1primary', 'eni-bp1second']);
    expect(lenient.mode).toBe('normal');
  });

  it('turns the answer into live ENIs by MAC, only those a flow log covers', async () => {
    const md = await new EcsMetadataClient({ metadataUrl: hardenedUrl, hardened: true, allowNormalMode: false }).read();
    const flowLogs = [{ id: 'fl-1', resourceType: 'vswitch', resourceId: 'vsw-bp1a' } as FlowLogConfig];
    const hosts = [
      { name: 'eth0', mac: '00:16:3e:00:00:01', addresses: ['192.168.0.10'] },
      { name: 'eth1', mac: '00:16:3e:00:00:02', addresses: ['192.168.1.20'] },
    ];
    const r = resolveLiveEnis([], enisFromMetadata(md), flowLogs, hosts);
    expect(r.unresolved).toEqual([]);
    expect(r.enis).toEqual([
      {
        device: 'eth0',
        shared: false,
        eni: expect.objectContaining({
          id: 'eni-bp1primary',
          interface: 'eth0',
          mac: '00:16:3e:00:00:01',
          ips: ['192.168.0.10', '192.168.0.11', '2408:4000::10'],
          cidrs: ['192.168.0.10/32', '192.168.0.11/32', '2408:4000::10/128'],
          vmId: 'i-bp1meta',
          instanceType: 'ecs.g7.large',
        }),
      },
    ]);
    // The covered ENI's interface not present yet: reported, not captured.
    expect(resolveLiveEnis([], enisFromMetadata(md), flowLogs, hosts.slice(1)).unresolved).toEqual([
      {
        id: 'eni-bp1primary',
        reason: 'no interface with MAC 00:16:3e:00:00:01',
        eni: expect.objectContaining({ id: 'eni-bp1primary', mac: '00:16:3e:00:00:01' }),
      },
    ]);
  });
});
