import type { Argv, CommandModule } from 'yargs';
import type { AgentConfig, FlowLogConfig, SlsSinkConfig } from '../config/types';
import { SlsApi } from '../output/sls/sls-api';
import { resolveSlsCredentials, type SlsCredentialsProvider } from '../output/sls/sls-credentials';
import { resolveSlsEndpoint } from '../output/sls/sls-endpoint';
import { compareIndex, flowLogIndex, type LogstoreIndex } from '../output/sls/sls-index';
import {
  classifySlsOutcome,
  managementCallSucceeded as succeeded,
  outcomeErrorCode as errorCode,
  type SlsCallOutcome,
} from '../output/sls/sls-outcome';
import { setUpViews } from '../output/sls/sls-view-setup';
import { loadConfigOrExit } from './config-arg';

/** Text output streams of a command (process.stdout / stderr, or collectors in tests). */
export interface TextOut {
  write(text: string): unknown;
}

export interface SlsSetupOptions {
  /** Default: from the config's credentials section, else the environment. */
  credentials?: SlsCredentialsProvider;
  /** New logstores: retention days and shards. Defaults 30 and 2. */
  ttlDays?: number;
  shardCount?: number;
  /** Waits between CreateIndex attempts while a new logstore becomes visible; default 1000. */
  retryDelayMs?: number;
  requestTimeoutMs?: number;
  /** Also the dashboards, alert rules and saved searches of each Logstore; default true. */
  views?: boolean;
  /** Action policy the alert rules notify through; default none (the console's alert center only). */
  alertActionPolicyId?: string;
}

interface Target {
  sink: SlsSinkConfig;
  extraFields: string[];
  flowLogIds: string[];
}

/**
 * `flowlog-agent sls setup`: for each flow log with an SLS sink, creates its Logstore and the
 * Logstore's index when missing (numbers as long, the rest as text), then (unless
 * `views: false`) its dashboards, alert rules and saved searches (src/output/sls/sls-view-setup.ts).
 * Idempotent: existing Logstores are left as they are; an existing index only gets the keys it
 * lacks, and keys of another type are reported, not retyped; views are created when missing
 * and updated in place when they differ from ours. Returns the exit code: 0 done (or nothing to
 * do), 1 some Logstore, index or view could not be set up, 2 unusable credentials or endpoint.
 */
export async function runSlsSetup(
  config: AgentConfig,
  out: TextOut,
  err: TextOut,
  o: SlsSetupOptions = {},
): Promise<number> {
  const targets = collectTargets(config.flowLogs);
  if (targets.length === 0) {
    out.write('sls setup: no flow log has an sls sink; nothing to do\n');
    return 0;
  }
  let credentials: SlsCredentialsProvider;
  try {
    credentials =
      o.credentials ??
      resolveSlsCredentials({
        credentials: config.credentials,
        metadataUrl: config.discovery?.metadataUrl,
        hardened: config.discovery?.hardened,
        allowNormalMode: config.discovery?.allowNormalMode,
      });
  } catch (e) {
    err.write(`sls setup: ${(e as Error).message}\n`);
    return 2;
  }
  let failed = 0;
  for (const t of targets) {
    let api: SlsApi;
    try {
      api = new SlsApi({
        endpoint: resolveSlsEndpoint(t.sink, config.region),
        credentials,
        connectTimeoutMs: 5000,
        readTimeoutMs: o.requestTimeoutMs ?? 15_000,
        userAgent: 'flowlog-agent-setup',
      });
    } catch (e) {
      err.write(`sls setup: ${(e as Error).message}\n`);
      return 2;
    }
    try {
      if (!(await setUpTarget(api, t, out, err, o))) failed++;
      else if (o.views !== false) {
        const viewTarget = {
          project: t.sink.project,
          logstore: t.sink.logstore,
          region: t.sink.region ?? config.region,
          actionPolicyId: o.alertActionPolicyId ?? '',
        };
        if (!(await setUpViews(api, viewTarget, out, err))) failed++;
      }
    } finally {
      api.close();
    }
  }
  return failed === 0 ? 0 : 1;
}

async function setUpTarget(api: SlsApi, t: Target, out: TextOut, err: TextOut, o: SlsSetupOptions): Promise<boolean> {
  const { project, logstore } = t.sink;
  const name = `${project}/${logstore}`;
  const fail = (what: string, outcome: SlsCallOutcome): false => {
    const r = classifySlsOutcome(outcome, `sls setup: ${what} ${name}`).result;
    err.write(`${r.kind === 'ok' ? `sls setup: ${what} ${name}: unexpected answer` : r.reason}\n`);
    return false;
  };

  const got = await api.getLogstore(project, logstore);
  if (succeeded(got)) out.write(`logstore ${name}: exists\n`);
  else if (errorCode(got) === 'LogStoreNotExist') {
    const created = await api.createLogstore(project, logstore, {
      ttl: o.ttlDays ?? 30,
      shardCount: o.shardCount ?? 2,
    });
    if (succeeded(created))
      out.write(`logstore ${name}: created (${o.ttlDays ?? 30} days, ${o.shardCount ?? 2} shards)\n`);
    else if (errorCode(created) === 'LogStoreAlreadyExist') out.write(`logstore ${name}: exists\n`);
    else return fail('create logstore', created);
  } else return fail('get logstore', got);

  const wanted = flowLogIndex(t.extraFields);
  const index = await api.getIndex(project, logstore);
  if (succeeded(index)) {
    const cmp = compareIndex(index.resolved as LogstoreIndex, wanted);
    for (const m of cmp.mistyped) {
      err.write(
        `sls setup: index of ${name}: key ${m.key} is ${m.has}, flow logs want ${m.wants}; left as it is (change it in the console to query it as ${m.wants})\n`,
      );
    }
    if (cmp.missing.length === 0) {
      out.write(`index of ${name}: up to date\n`);
      return true;
    }
    const updated = await api.updateIndex(project, logstore, cmp.merged);
    if (!succeeded(updated)) return fail('update index of', updated);
    out.write(`index of ${name}: added keys ${cmp.missing.join(', ')}\n`);
    return true;
  }
  if (errorCode(index) !== 'IndexConfigNotExist') return fail('get index of', index);
  // A logstore just created can take a moment to be visible to CreateIndex.
  for (let attempt = 1; ; attempt++) {
    const created = await api.createIndex(project, logstore, wanted);
    if (succeeded(created)) {
      out.write(`index of ${name}: created\n`);
      return true;
    }
    if (errorCode(created) !== 'LogStoreNotExist' || attempt >= 5) return fail('create index of', created);
    await new Promise((resolve) => setTimeout(resolve, o.retryDelayMs ?? 1000));
  }
}

/** One target per distinct endpoint/project/logstore, extra fields united. */
function collectTargets(flowLogs: FlowLogConfig[]): Target[] {
  const byKey = new Map<string, Target>();
  for (const fl of flowLogs) {
    if (fl.sink.type !== 'sls') continue;
    const s = fl.sink;
    const key = JSON.stringify([s.endpoint ?? '', s.region ?? '', s.intranet ?? false, s.project, s.logstore]);
    const t = byKey.get(key);
    if (t === undefined) byKey.set(key, { sink: s, extraFields: [...fl.extraFields], flowLogIds: [fl.id] });
    else {
      t.flowLogIds.push(fl.id);
      for (const f of fl.extraFields) if (!t.extraFields.includes(f)) t.extraFields.push(f);
    }
  }
  return [...byKey.values()];
}

const setupCommand: CommandModule<object, { config: string; dashboards: boolean; 'alert-action-policy'?: string }> = {
  command: 'setup',
  describe:
    "create each SLS flow log's Logstore, index, dashboards, alert rules and saved searches, or bring them up to date (safe to run again)",
  builder: (y: Argv) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'agent configuration (YAML)' })
      .option('dashboards', {
        type: 'boolean',
        default: true,
        describe: 'also the dashboards, alert rules and saved searches (--no-dashboards: Logstores and indexes only)',
      })
      .option('alert-action-policy', {
        type: 'string',
        describe: 'action policy the alert rules notify through (default: none, the alert center only)',
      }),
  handler: async (argv) => {
    const config = loadConfigOrExit(argv.config, process.stderr);
    if (config === null) {
      process.exitCode = 2;
      return;
    }
    process.exitCode = await runSlsSetup(config, process.stdout, process.stderr, {
      views: argv.dashboards,
      alertActionPolicyId: argv['alert-action-policy'],
    });
  },
};

/** `flowlog-agent sls <subcommand>`; register with yargs `.command(slsCommand)`. */
export const slsCommand: CommandModule = {
  command: 'sls <command>',
  describe: 'Log Service tasks (setup)',
  builder: (y: Argv) => y.command(setupCommand).demandCommand(1, 'name an sls subcommand; see --help'),
  handler: () => {},
};
