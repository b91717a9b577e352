/**
 * The engine conformance suite: every behaviour the `Engine` contract (src/core/engine.ts) promises,
 * written once and run on each engine (memory, bus, Redis) through `runEngineSuite`. An engine that
 * passes it can replace another under the session core.
 *
 * Each case asks for a fresh deployment of started nodes (`deploy`) and drives them through the
 * contract alone. Cases needing more nodes than an engine has, or a feature it leaves out, are skipped
 * with the reason in their title, and every run is counted (`suiteTally`).
 */
import { afterEach, describe, it, vi } from 'vitest';
import type { Engine, PresenceChange, StoredMessage } from '../../src/core/engine.js';
import { presenceViews, type PresenceViews } from '../../src/core/presence-views.js';
import type { RetentionOptions } from '../../src/engine/retention.js';
import { until } from '../../../../test/support/wait.js';
import { historyCases } from './cases/history.js';
import { listenCases } from './cases/listen.js';
import { multiNodeCases } from './cases/multi-node.js';
import { presenceCases } from './cases/presence.js';
import { publishCases } from './cases/publish.js';
import { recoverCases } from './cases/recover.js';
import { retentionCases } from './cases/retention.js';

/** What an engine may leave out on purpose; a case needing it is skipped with the engine's reason. */
export type Feature = 'appHistoryBytes';

export interface EngineFactory {
  /**
   * `n` engines, not yet started, that behave as `n` nodes of one fresh deployment with this
   * retention: they share everything with each other and nothing with the engines of another call.
   */
  nodes(n: number, retention?: Partial<RetentionOptions>): Engine[] | Promise<Engine[]>;
  /** Most nodes one deployment can have: 1 for a single-process engine. */
  maxNodes: number;
  /**
   * 'fake': the engine keeps time with `Date` and timers only, so cases jump ahead with vitest's fake
   * timers. 'real': time also passes elsewhere (Redis expiries), so cases wait it out.
   */
  clock: 'fake' | 'real';
  /** Features left out, each with why. */
  without?: Partial<Record<Feature, string>>;
}

/** One started engine and everything it delivered to its node. */
export class Node {
  readonly messages: Array<{ channelKey: string; message: StoredMessage }> = [];
  /**
   * Every presence change delivered: as the engine reported it (`reported`), and as core derives what
   * watchers see from it (`change`: by connection, and by client id), which is what cases assert.
   */
  readonly presence: Array<{ channelKey: string; change: PresenceViews; reported: PresenceChange }> = [];
  closed = false;

  constructor(readonly engine: Engine) {}

  delivered(channelKey: string): StoredMessage[] {
    return this.messages.filter((d) => d.channelKey === channelKey).map((d) => d.message);
  }

  changes(channelKey: string): PresenceViews[] {
    return this.presence.filter((p) => p.channelKey === channelKey).map((p) => p.change);
  }

  /** The channel's deliveries once there are at least `count`. */
  async received(channelKey: string, count: number): Promise<StoredMessage[]> {
    await until(() => this.delivered(channelKey).length >= count, `${count} messages on ${channelKey}`);
    return this.delivered(channelKey);
  }

  /** The channel's presence changes once there are at least `count`. */
  async announced(channelKey: string, count: number): Promise<PresenceViews[]> {
    await until(() => this.changes(channelKey).length >= count, `${count} presence changes on ${channelKey}`);
    return this.changes(channelKey);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.engine.close();
  }
}

/** Time as a case sees it: jumped over on fake clocks, waited out on real ones. */
export interface Clock {
  /** Let at least `ms` pass. */
  elapse(ms: number): Promise<void>;
  /** Let time pass until `check` holds; fails with `what` once `withinMs` have passed. */
  until(check: () => boolean | Promise<boolean>, what: string, withinMs: number): Promise<void>;
}

export interface CaseContext {
  /** The engine under test's name. */
  readonly engine: string;
  /** Started nodes of a fresh deployment; they are closed after the case. */
  deploy(n: number, retention?: Partial<RetentionOptions>): Promise<Node[]>;
  /** One started node of a fresh deployment. */
  node(retention?: Partial<RetentionOptions>): Promise<Node>;
  /** Take control of time; call it before `deploy`, so the engine's timers are on it. */
  clock(): Clock;
}

export interface CaseOptions {
  /** Nodes the case needs (default 1). */
  nodes?: number;
  needs?: Feature;
}

export type DefineCase = (title: string, options: CaseOptions, body: (ctx: CaseContext) => Promise<void>) => void;

/** How far a fake clock jumps between checks of `Clock.until`. */
const FAKE_STEP_MS = 250;

/** Cases that ran and cases skipped (with why), per engine, in the order suites were declared. */
const tally = new Map<string, { ran: number; skipped: Array<{ title: string; reason: string }>; cases: number }>();

export function suiteTally(): ReadonlyMap<string, { ran: number; skipped: ReadonlyArray<{ title: string; reason: string }>; cases: number }> {
  return tally;
}

const GROUPS: Array<[string, (define: DefineCase) => void]> = [
  ['publish', publishCases],
  ['listen', listenCases],
  ['history', historyCases],
  ['retention', retentionCases],
  ['recover', recoverCases],
  ['presence', presenceCases],
  ['multi-node', multiNodeCases],
];

/** Every engine case, run on `factory`'s engine. */
export function runEngineSuite(name: string, factory: EngineFactory): void {
  const counts = { ran: 0, skipped: [] as Array<{ title: string; reason: string }>, cases: 0 };
  tally.set(name, counts);
  let open: Node[] = [];

  const ctx: CaseContext = {
    engine: name,
    async deploy(n, retention) {
      if (n > factory.maxNodes) throw new Error(`${name} has at most ${factory.maxNodes} node(s)`);
      const engines = await factory.nodes(n, retention);
      const nodes = engines.map((engine) => new Node(engine));
      open.push(...nodes);
      for (const node of nodes) {
        await node.engine.start({
          message: (channelKey, message) => node.messages.push({ channelKey, message }),
          presence: (channelKey, reported) => node.presence.push({ channelKey, change: presenceViews(reported), reported }),
        });
      }
      return nodes;
    },
    async node(retention) {
      const [node] = await ctx.deploy(1, retention);
      return node;
    },
    clock() {
      if (factory.clock === 'real') {
        return { elapse: (ms) => new Promise((r) => setTimeout(r, ms)), until: (check, what, withinMs) => until(check, what, withinMs) };
      }
      // Fake time still moves with real time, so waits for deliveries (`until`) keep working.
      vi.useFakeTimers({ shouldAdvanceTime: true });
      const elapse = async (ms: number) => void (await vi.advanceTimersByTimeAsync(ms));
      return {
        elapse,
        async until(check, what, withinMs) {
          for (let passed = 0; !(await check()); passed += FAKE_STEP_MS) {
            if (passed > withinMs) throw new Error(`timed out waiting for ${what}`);
            await elapse(FAKE_STEP_MS);
          }
        },
      };
    },
  };

  const define: DefineCase = (title, options, body) => {
    counts.cases++;
    const nodes = options.nodes ?? 1;
    const reason =
      nodes > factory.maxNodes
        ? `needs ${nodes} nodes, ${name} is ${factory.maxNodes === 1 ? 'one node' : `at most ${factory.maxNodes}`}`
        : options.needs && factory.without?.[options.needs];
    if (reason) {
      counts.skipped.push({ title, reason });
      it.skip(`${title} [skipped: ${reason}]`, () => {});
      return;
    }
    it(title, async () => {
      counts.ran++;
      await body(ctx);
    });
  };

  describe(`engine suite on ${name}`, () => {
    afterEach(async () => {
      const closing = open;
      open = [];
      await Promise.all(closing.map((node) => node.close().catch(() => {})));
      vi.useRealTimers();
    });
    for (const [group, cases] of GROUPS) describe(group, () => cases(define));
  });
}
