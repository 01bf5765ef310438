'use strict';
/**
 * The live contenders of bench/live-bench.js, each alone on the same veth with the same traffic
 * (tcpreplay from the peer namespace), interleaved round by round:
 *   agent      the daemon (`run` pipeline: chunked native capture, WebAssembly kernel), 1-minute windows
 *   tcpdump    `tcpdump -w /dev/null`: the C libpcap ceiling
 *   softflowd  softflowd -i (NetFlow to a closed loopback port)
 *   pmacctd    pmacctd -i, print plugin, 5-tuple aggregation (core and plugin processes counted)
 *   node-pcap  node-pcap's binding counting packets (one JavaScript call per packet, no decode)
 *   addon      the agent's own addon counting records (one call per read, no decode)
 * CPU is the on-CPU time (schedstat) of the contender's process tree while tcpreplay sends and 1.5 s after,
 * counted once the contender has been up `settleMs` past its ready line (10 s by default): a daemon's
 * cost per packet is its steady state, not its start. The agent's start (V8 compiling, the kernel's
 * warm-up, and V8's memory reducer, which runs a full GC about 8 s after allocation goes quiet) took
 * about 60 ms of CPU after ready (README, 2026-12-07), which a 10 s send at 100 k pps had counted
 * as 0.06 s per million packets. What the settle hides is reported: each contender's start CPU (spawn to the end of the
 * settle) and its idle CPU (ms per s over `idleMs` with no traffic, just before the send).
 */
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const REPO = join(__dirname, '..');
const ADDON = join(REPO, 'build', 'Release', 'flowlog_capture.node');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function which(cmd) {
  try {
    return execFileSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * On-CPU nanoseconds of `pid`, its threads and every live descendant's, from schedstat
 * (/proc/<pid>/task/<tid>/schedstat, first field): exact, where utime+stime come in 10 ms ticks
 * (20% of a contender's whole cost at a million packets).
 */
function treeCpuNs(pid, byThread) {
  const parents = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parents.set(Number(name), Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop();
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const ns = Number(readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        total += ns;
        if (byThread) byThread.set(`${tid} ${readFileSync(`/proc/${p}/task/${tid}/comm`, 'utf8').trim()}`, ns);
      }
    } catch {
      // exited meanwhile
    }
    for (const [child, ppid] of parents) if (ppid === p) todo.push(child);
  }
  return total;
}

/** utime+stime in clock ticks of the same tree (the million-flow case samples it). */
function treeCpuTicks(pid) {
  return Math.round(treeCpuNs(pid) / 1e7);
}

function waitFor(child, pattern, timeoutMs) {
  return new Promise((res, rej) => {
    let text = '';
    const t = setTimeout(() => rej(new Error(`timeout waiting for ${pattern}: ${text.slice(-400)}`)), timeoutMs);
    const on = (d) => {
      text += d;
      if (pattern.test(text)) {
        clearTimeout(t);
        res();
      }
    };
    child.stderr.on('data', on);
    child.stdout.on('data', on);
  });
}

/**
 * Contender definitions: `start(ctx)` returns { child, ready: Promise, finish: async () => counts }.
 * ctx: { ns, dev, dir, daemonJs, bufferBytes, inNs }.
 */
const CONTENDERS = {
  agent(ctx) {
    const config = join(ctx.dir, 'agent.yaml');
    const out = join(ctx.dir, 'agent-records.jsonl');
    rmSync(out, { force: true });
    writeFileSync(
      config,
      [
        'region: cn-hangzhou',
        'accountId: "1234567890123456"',
        `stateDir: ${ctx.dir}`,
        'enis:',
        `  - { id: eni-bench0, interface: ${ctx.dev}, ips: [10.203.0.1], vpcId: vpc-bench, vswitchId: vsw-bench, vmId: i-bench }`,
        'flowLogs:',
        '  - { id: fl-bench, resourceType: vpc, resourceId: vpc-bench, aggregationInterval: 10, sink: { type: file, path: unused.jsonl } }',
        `capture: { snaplenBytes: 128, bufferBytes: ${ctx.bufferBytes} }`,
        'metrics: { listen: "" }',
        '',
      ].join('\n'),
    );
    const env = { ...process.env, NODE_PATH: join(REPO, 'node_modules'), FLOWLOG_CAPTURE_ADDON: ADDON };
    // FLOWLOG_BENCH_AGENT_NODE_ARGS: node flags for the agent alone (e.g. --cpu-prof, which NODE_OPTIONS refuses).
    const nodeArgs = (process.env.FLOWLOG_BENCH_AGENT_NODE_ARGS || '').split(' ').filter(Boolean);
    // FLOWLOG_BENCH_DAEMON_JS: another daemon bundle (e.g. an earlier commit's) in the agent's place.
    const daemonJs = process.env.FLOWLOG_BENCH_DAEMON_JS || ctx.daemonJs;
    const child = spawn('ip', ctx.inNs(ctx.ns, process.execPath, [...nodeArgs, daemonJs, config, out]), {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (d) => (log += d));
    return {
      child,
      ready: waitFor(child, /daemon started/, 20000),
      async finish() {
        child.kill('SIGTERM');
        await new Promise((r) => child.on('exit', r));
        const recs = existsSync(out)
          ? readFileSync(out, 'utf8')
              .trim()
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l))
          : [];
        const stopped =
          log
            .split('\n')
            .filter((l) => l.includes('"daemon stopped"'))
            .map((l) => JSON.parse(l))[0] || {};
        return {
          counted: recs
            .filter((r) => r.protocol === '17' && r['log-status'] === 'OK')
            .reduce((n, r) => n + Number(r.packets), 0),
          drops: recs.filter((r) => r['log-status'] === 'SKIPDATA').reduce((n, r) => n + Number(r.packets), 0),
          skipdata: recs.filter((r) => r['log-status'] === 'SKIPDATA').length,
          kernelPackets: stopped.kernelPackets,
        };
      },
    };
  },
  tcpdump(ctx) {
    const child = spawn(
      'ip',
      ctx.inNs(ctx.ns, 'tcpdump', [
        '-i',
        ctx.dev,
        '-n',
        '-p',
        '-s',
        '128',
        '-B',
        String(ctx.bufferBytes >> 10),
        '-w',
        '/dev/null',
        'udp',
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stderr.on('data', (d) => (text += d));
    return {
      child,
      ready: waitFor(child, /listening on/, 10000),
      async finish() {
        child.kill('SIGINT');
        await new Promise((r) => child.on('exit', r));
        return {
          counted: Number((/(\d+) packets captured/.exec(text) || [])[1]),
          drops: Number((/(\d+) packets dropped by kernel/.exec(text) || [])[1]),
        };
      },
    };
  },
  softflowd(ctx) {
    const ctl = join(ctx.dir, 'softflowd.ctl');
    const args = [
      '-i',
      ctx.dev,
      '-d',
      '-N',
      '-n',
      '127.0.0.1:9',
      '-c',
      ctl,
      '-p',
      join(ctx.dir, 'softflowd.pid'),
      '-m',
      '1000000',
      '-6',
      '-C',
      '128',
      '-B',
      String(ctx.bufferBytes),
      'udp',
    ];
    const child = spawn('ip', ctx.inNs(ctx.ns, 'softflowd', args), { stdio: ['ignore', 'pipe', 'pipe'] });
    return {
      child,
      ready: waitFor(child, /starting data collection/, 10000),
      async finish() {
        const text = execFileSync('ip', ctx.inNs(ctx.ns, 'softflowctl', ['-c', ctl, 'statistics']), {
          encoding: 'utf8',
        });
        execFileSync('ip', ctx.inNs(ctx.ns, 'softflowctl', ['-c', ctl, 'shutdown']), { stdio: 'ignore' });
        await new Promise((r) => child.on('exit', r));
        const n = (re) => Number((re.exec(text) || [])[1]);
        return {
          counted: n(/Packets received by libpcap: (\d+)/),
          processed: n(/Packets processed: (\d+)/),
          drops: n(/Packets dropped by libpcap: (\d+)/) + n(/Packets dropped by interface: (\d+)/),
        };
      },
    };
  },
  pmacctd(ctx) {
    const out = join(ctx.dir, 'pmacctd-out.csv');
    rmSync(out, { force: true });
    const conf = join(ctx.dir, 'pmacctd-live.conf');
    writeFileSync(
      conf,
      [
        'daemonize: false',
        `pcap_interface: ${ctx.dev}`,
        'promisc: false',
        'snaplen: 128',
        'pcap_filter: udp',
        'aggregate: src_host,dst_host,src_port,dst_port,proto',
        'plugins: print',
        'print_output: csv',
        `print_output_file: ${out}`,
        'print_refresh_time: 600',
        'print_history: 10m',
        'print_history_roundoff: m',
        'print_output_file_append: true',
        'plugin_buffer_size: 102400',
        'plugin_pipe_size: 102400000',
        'print_cache_entries: 65537',
        '',
      ].join('\n'),
    );
    const child = spawn('ip', ctx.inNs(ctx.ns, 'pmacctd', ['-f', conf]), { stdio: ['ignore', 'pipe', 'pipe'] });
    return {
      child,
      ready: sleep(2500), // pmacctd prints nothing reliable when its capture is up
      async finish() {
        child.kill('SIGINT');
        await new Promise((r) => child.on('exit', r));
        await sleep(300);
        let counted = 0;
        if (existsSync(out)) {
          const lines = readFileSync(out, 'utf8').trim().split('\n');
          const col = lines[0].split(',').indexOf('PACKETS');
          for (const l of lines.slice(1)) if (!l.startsWith('SRC')) counted += Number(l.split(',')[col]) || 0;
        }
        return { counted, drops: null };
      },
    };
  },
  'node-pcap'(ctx) {
    const script = `const b=require('pcap/build/Release/pcap_binding');const s=new b.PcapSession();const fr=Buffer.alloc(65536),h=Buffer.alloc(16);let n=0;
      s.open_live('${ctx.dev}','udp',${ctx.bufferBytes},128,'',()=>{n++},false,100,()=>{},false);s.read_callback=()=>s.dispatch(fr,h);s.start_polling();
      process.on('SIGTERM',()=>{const st=s.stats();console.log(JSON.stringify({counted:n,drops:st.ps_drop+st.ps_ifdrop}));process.exit(0)});console.log('ready')`;
    return nodeScript(ctx, script);
  },
  addon(ctx) {
    const script = `const b=require(${JSON.stringify(ADDON)});const h=b.open('${ctx.dev}',128,${ctx.bufferBytes},100,'udp',false);const c=Buffer.alloc(262144);let n=0;
      b.start(h,()=>{for(;;){const e=b.dispatch(h,c,0,c.length);if(e<=0)return;for(let p=0;p+16<=e;p+=16+c.readUInt32LE(p+8))n++;if(e<=c.length-144)return}});
      process.on('SIGTERM',()=>{const st=b.stats(h);console.log(JSON.stringify({counted:n,drops:st[1]+st[2]}));process.exit(0)});console.log('ready')`;
    return nodeScript(ctx, script);
  },
};

function nodeScript(ctx, script) {
  const env = { ...process.env, NODE_PATH: join(REPO, 'node_modules') };
  const child = spawn('ip', ctx.inNs(ctx.ns, process.execPath, ['-e', script]), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  return {
    child,
    ready: waitFor(child, /ready/, 10000),
    async finish() {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
      return JSON.parse(text.split('\n').find((l) => l.startsWith('{')) || '{}');
    },
  };
}

/** One contender on one send: CPU seconds while tcpreplay sends (and 1.5 s after), and its counts. */
async function runOne(name, ctx, send, { settleMs = 10000, idleMs = 2000 } = {}) {
  const c = CONTENDERS[name](ctx);
  await c.ready;
  const pid = c.child.pid;
  await sleep(settleMs);
  const idle0 = treeCpuNs(pid);
  await sleep(idleMs);
  const idleNs = treeCpuNs(pid) - idle0;
  const startSec = idle0 / 1e9;
  const idleMsPerSec = idleMs > 0 ? idleNs / 1e6 / (idleMs / 1e3) : null;
  const before = new Map();
  const after = new Map();
  const cpu0 = treeCpuNs(pid, before);
  const sent = send();
  await sleep(1500);
  const cpuSec = (treeCpuNs(pid, after) - cpu0) / 1e9;
  if (process.env.FLOWLOG_BENCH_THREADS) {
    const parts = [...after]
      .map(([t, ns]) => [t, (ns - (before.get(t) || 0)) / 1e6])
      .filter(([, ms]) => ms >= 0.5)
      .map(([t, ms]) => `${t} ${ms.toFixed(1)} ms`);
    console.error(`${name}: ${(cpuSec * 1e3).toFixed(1)} ms: ${parts.join(', ')}`);
  }
  const counts = await c.finish();
  return {
    name,
    sent: sent.packets,
    pps: sent.pps,
    cpuSec,
    usPerPacket: (cpuSec / sent.packets) * 1e6,
    startSec,
    idleMsPerSec,
    ...counts,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * `rounds` rounds, each running every available contender once (in order), for each rate
 * (undefined: top speed). Returns per rate, per contender: the runs, best and median CPU per
 * million packets, worst drops.
 */
async function runLiveContenders(ctx, tcpreplay, { rounds = 3, rates = [undefined], only, settleMs, idleMs } = {}) {
  const names = Object.keys(CONTENDERS).filter(
    (n) => (!['softflowd', 'pmacctd', 'tcpdump'].includes(n) || which(n)) && (only === undefined || only.includes(n)),
  );
  const results = [];
  for (const rate of rates) {
    const runs = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      for (const name of names) runs[name].push(await runOne(name, ctx, () => tcpreplay(rate), { settleMs, idleMs }));
    }
    results.push({
      rate: rate ?? 'top speed',
      contenders: names.map((name) => {
        const rs = runs[name];
        const perM = rs.map((x) => x.cpuSec / (x.sent / 1e6));
        return {
          name,
          runs: rs,
          bestCpuSecPerMpkt: Math.min(...perM),
          medianCpuSecPerMpkt: median(perM),
          medianStartSec: median(rs.map((x) => x.startSec)),
          medianIdleMsPerSec: rs[0].idleMsPerSec === null ? null : median(rs.map((x) => x.idleMsPerSec)),
          worstDrops: Math.max(...rs.map((x) => (x.drops === null ? 0 : x.drops))),
          minCounted: Math.min(...rs.map((x) => x.counted)),
          sent: rs[0].sent,
        };
      }),
    });
  }
  return results;
}

/** Report lines: one per rate and contender, then the ratios the targets are judged by. */
function contenderLines(results) {
  const lines = [];
  for (const r of results) {
    lines.push(
      `live contenders at ${r.rate === 'top speed' ? 'tcpreplay top speed' : `${r.rate} pps`} (best / median of ${r.contenders[0].runs.length}, CPU s per million packets):`,
    );
    for (const c of r.contenders) {
      const pps = c.runs.map((x) => x.pps).join('/');
      const extra =
        c.name === 'agent'
          ? `, SKIPDATA records ${Math.max(...c.runs.map((x) => x.skipdata))}, kernel took ${c.runs.map((x) => x.kernelPackets).join('/')}`
          : '';
      lines.push(
        `  ${c.name.padEnd(9)}: ${c.bestCpuSecPerMpkt.toFixed(4)} / ${c.medianCpuSecPerMpkt.toFixed(4)}  counted >= ${c.minCounted} of ${c.sent}, drops <= ${c.worstDrops}${extra} (sent at ${pps} pps)`,
      );
      const idle = c.medianIdleMsPerSec === null ? '' : `, idle ${c.medianIdleMsPerSec.toFixed(2)} ms of CPU per s`;
      lines.push(
        `             start ${(c.medianStartSec * 1e3).toFixed(0)} ms of CPU (spawn to the end of the settle)${idle} (medians)`,
      );
    }
    const by = Object.fromEntries(r.contenders.map((c) => [c.name, c]));
    if (by.agent && by.tcpdump)
      lines.push(
        `  agent / tcpdump CPU (median): ${(by.agent.medianCpuSecPerMpkt / by.tcpdump.medianCpuSecPerMpkt).toFixed(2)} (target <= 2)`,
      );
    if (by.agent && by.pmacctd)
      lines.push(
        `  pmacctd / agent CPU (median): ${(by.pmacctd.medianCpuSecPerMpkt / by.agent.medianCpuSecPerMpkt).toFixed(2)} (target >= 5)`,
      );
    if (by.agent && by.softflowd)
      lines.push(
        `  softflowd / agent CPU (median): ${(by.softflowd.medianCpuSecPerMpkt / by.agent.medianCpuSecPerMpkt).toFixed(2)}`,
      );
  }
  return lines;
}

module.exports = { runLiveContenders, contenderLines, treeCpuNs, treeCpuTicks, waitFor };
