import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/**
 * Debian's Chromium, headless, driven through the DevTools protocol over a pipe
 * (--remote-debugging-pipe: NUL-terminated JSON messages on file descriptors 3 and 4), so the
 * tests open a page as a person would and read what it shows, with no npm dependency and no
 * port. Started with the flags that keep it from reaching out (no sync, component updates,
 * background networking, QUIC) and a fresh profile per launch.
 */

export const CHROMIUM = process.env.FLOWLOG_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
];

type Message = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
};

const COMMAND_TIMEOUT_MS = 30_000;

export class HeadlessChromium {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(m: Message) => void>();
  private exited: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly toBrowser: Writable,
    fromBrowser: Readable,
  ) {
    let buf = Buffer.alloc(0);
    fromBrowser.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let end = buf.indexOf(0); end >= 0; end = buf.indexOf(0)) {
        const m = JSON.parse(buf.subarray(0, end).toString('utf8')) as Message;
        buf = buf.subarray(end + 1);
        const p = m.id === undefined ? undefined : this.pending.get(m.id);
        if (p !== undefined) {
          this.pending.delete(m.id!);
          if (m.error) p.reject(new Error(`chromium: ${m.error.message}`));
          else p.resolve(m);
        } else for (const l of this.listeners) l(m);
      }
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`chromium exited (${code ?? signal})`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
  }

  /** Starts Chromium with a fresh profile in `userDataDir`. */
  static launch(userDataDir: string): HeadlessChromium {
    const child = spawn(
      CHROMIUM,
      [...CHROMIUM_FLAGS, `--user-data-dir=${userDataDir}`, '--remote-debugging-pipe', 'about:blank'],
      {
        stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
      },
    );
    return new HeadlessChromium(child, child.stdio[3] as Writable, child.stdio[4] as Readable);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Message> {
    if (this.exited) return Promise.reject(this.exited);
    const id = ++this.nextId;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`chromium: no answer to ${method} in ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.toBrowser.write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    });
  }

  /** Resolves with the first event `method` of `sessionId` after the call. */
  waitFor(method: string, sessionId: string): Promise<Message> {
    return new Promise((resolve) => {
      const l = (m: Message) => {
        if (m.method === method && m.sessionId === sessionId) {
          this.listeners.delete(l);
          resolve(m);
        }
      };
      this.listeners.add(l);
    });
  }

  /** Every event of `method`, for the caller to inspect (network requests). */
  collect(method: string): Message[] {
    const seen: Message[] = [];
    this.listeners.add((m) => {
      if (m.method === method) seen.push(m);
    });
    return seen;
  }

  /** Opens `url` in a new tab of `width` x `height` CSS pixels; resolves once it has loaded. */
  async open(url: string, width: number, height: number): Promise<ChromiumPage> {
    const target = await this.send('Target.createTarget', { url: 'about:blank' });
    const attached = await this.send('Target.attachToTarget', { targetId: target.result!.targetId, flatten: true });
    const session = attached.result!.sessionId as string;
    await this.send('Page.enable', {}, session);
    await this.send('Network.enable', {}, session);
    await this.send(
      'Emulation.setDeviceMetricsOverride',
      { width, height, deviceScaleFactor: 1, mobile: false },
      session,
    );
    const loaded = this.waitFor('Page.loadEventFired', session);
    await this.send('Page.navigate', { url }, session);
    await loaded;
    return new ChromiumPage(this, session);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    await this.send('Browser.close').catch(() => this.child.kill('SIGKILL'));
    await gone;
  }
}

export class ChromiumPage {
  constructor(
    private readonly browser: HeadlessChromium,
    private readonly session: string,
  ) {}

  /** Evaluates `expression` in the page; its value, which must be JSON. */
  async evaluate<T>(expression: string): Promise<T> {
    const m = await this.browser.send('Runtime.evaluate', { expression, returnByValue: true }, this.session);
    const r = m.result as {
      result: { value: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails)
      throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** A PNG of the whole page, not only the viewport. */
  async screenshot(): Promise<Buffer> {
    const m = await this.browser.send(
      'Page.captureScreenshot',
      { format: 'png', captureBeyondViewport: true },
      this.session,
    );
    return Buffer.from(m.result!.data as string, 'base64');
  }
}
