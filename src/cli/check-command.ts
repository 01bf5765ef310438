import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { OfflineCaptureSource } from '../capture/file/offline-source';
import { PacketView } from '../packet/decode/packet-view';
import { ActionAudit, protocolName } from '../enrich/action-audit';
import { EniInventory } from '../enrich/eni-inventory';
import { PolicyEvaluator } from '../enrich/policy/policy-evaluator';
import { FlowSpecError, fillView, parseFlowSpec } from '../enrich/policy/flow-spec';
import { formatCount, renderTable } from '../query/text-table';
import { loadConfigOrExit } from './config-arg';

export interface CheckOptions {
  configPath: string;
  eni?: string;
  flow?: string;
  pcaps?: string[];
  /** Also list ACCEPT flows of a capture (default: REJECTs only). */
  all?: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/**
 * `flowlog-agent check`: what the configured security groups and network ACLs decide, and which
 * rule decided it, for one flow (`--flow`) or every flow of capture files (`--pcap`). Returns the
 * exit code: 0 done, 2 bad usage or configuration, 1 a capture could not be read.
 */
export function runCheck(o: CheckOptions): number {
  const usage = (message: string) => {
    o.err.write(`flowlog-agent check: ${message}\n`);
    return 2;
  };
  if ((o.flow === undefined) === (o.pcaps === undefined || o.pcaps.length === 0))
    return usage('give exactly one of --flow or --pcap');
  const config = loadConfigOrExit(o.configPath, o.err);
  if (config === null) return 2;
  const eni = o.eni === undefined ? -1 : config.enis.findIndex((e) => e.id === o.eni);
  if (o.eni !== undefined && eni < 0)
    return usage(`unknown ENI "${o.eni}" (configured: ${config.enis.map((e) => e.id).join(', ') || 'none'})`);

  if (o.flow !== undefined) {
    if (eni < 0) return usage('--flow needs --eni');
    let spec;
    try {
      spec = parseFlowSpec(o.flow);
    } catch (e) {
      if (e instanceof FlowSpecError) return usage(e.message);
      throw e;
    }
    const evaluator = new PolicyEvaluator(config.enis, config.networkAcls ?? [], { connectionCapacity: 16 });
    const view = fillView(new PacketView(), spec, 0);
    const outbound = spec.direction === 'out';
    const inventory = new EniInventory(config.enis);
    const owner = outbound ? inventory.sourceEni(view) : inventory.destinationEni(view);
    if (owner !== eni) {
      o.err.write(
        `warning: the ${outbound ? 'source' : 'destination'} of the flow is not an address of ${o.eni}; evaluating its rules anyway\n`,
      );
    }
    const reject = evaluator.rejects(view, eni, outbound);
    const why = evaluator.describeLast(eni, outbound);
    o.out.write(`${reject ? 'REJECT' : 'ACCEPT'}  ${o.flow.trim()}  (${o.eni}, first packet of a connection)\n`);
    if (!evaluator.governs(eni)) {
      o.out.write(`  ${o.eni} has no security groups and its vSwitch no network ACL: only NFLOG drops are REJECT\n`);
      return 0;
    }
    o.out.write(`  security group: ${why.securityGroup}\n  network ACL:    ${why.networkAcl}\n`);
    return 0;
  }

  for (const p of o.pcaps ?? []) if (!existsSync(p)) return usage(`capture file not found: ${p}`);
  const audit = new ActionAudit(config, eni);
  // The audit has the two members a capture source uses (`view`, `onFrame`).
  const reports = new OfflineCaptureSource(o.pcaps ?? []).run(audit);
  let code = 0;
  for (const r of reports) {
    if (r.skipped) {
      o.err.write(`flowlog-agent check: skipped ${r.path}: ${r.skipped}\n`);
      code = 1;
    } else if (r.readError) {
      o.err.write(`flowlog-agent check: ${r.path}: ${r.readError}\n`);
    }
  }
  const flows = audit.results();
  const shown = flows.filter((f) => o.all || f.action === 'REJECT');
  const rejects = flows.filter((f) => f.action === 'REJECT');
  const columns = [
    { header: 'ACTION', align: 'left' },
    { header: 'ENI', align: 'left' },
    { header: 'DIR', align: 'left' },
    { header: 'PROTO', align: 'left' },
    { header: 'SOURCE', align: 'left' },
    { header: 'DESTINATION', align: 'left' },
    { header: 'PACKETS', align: 'right' },
    { header: 'BYTES', align: 'right' },
    { header: 'SECURITY GROUP', align: 'left' },
    { header: 'NETWORK ACL', align: 'left' },
  ] as const;
  const rows = shown.map((f) => [
    f.action,
    f.eniId,
    f.direction,
    protocolName(f.protocol),
    f.src,
    f.dst,
    formatCount(f.packets),
    formatCount(f.bytes),
    f.securityGroup,
    f.networkAcl,
  ]);
  if (shown.length > 0) o.out.write(renderTable(columns, rows));
  const packets = rejects.reduce((n, f) => n + f.packets, 0);
  o.out.write(
    `${rejects.length} REJECT flow${rejects.length === 1 ? '' : 's'} (${formatCount(packets)} packets) of ${flows.length} flows in ${formatCount(audit.frames)} frames\n`,
  );
  return code;
}

export const checkCommand: CommandModule<
  object,
  { config: string; eni?: string; flow?: string; pcap?: string[]; all: boolean }
> = {
  command: 'check',
  describe:
    'show what the configured security groups and network ACLs decide for a flow or a capture, and which rule decided',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'agent configuration (YAML)' })
      .option('eni', {
        type: 'string',
        describe: 'ENI id whose rules apply (required with --flow; with --pcap, only this ENI)',
      })
      .option('flow', {
        type: 'string',
        describe: 'one flow, e.g. "tcp 10.0.0.5:51000 > 10.0.1.9:22 in" (in/out: as the ENI sees it)',
      })
      .option('pcap', {
        type: 'string',
        array: true,
        describe: 'capture file(s): evaluate every flow and list the REJECTs',
      })
      .option('all', { type: 'boolean', default: false, describe: 'with --pcap, list ACCEPT flows too' }),
  handler: (argv) => {
    process.exitCode = runCheck({
      configPath: argv.config,
      eni: argv.eni,
      flow: argv.flow,
      pcaps: argv.pcap,
      all: argv.all,
      out: process.stdout,
      err: process.stderr,
    });
  },
};
