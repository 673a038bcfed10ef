import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BalloonPolicy,
  type GuestBalloonStats,
  MOM_DEFAULTS,
  MomBalloonPolicy,
  type MultiRunSpec,
  buildWorkload,
  runMulti,
} from '../src/index.js';
import { smallMulti } from './support/small-multi.js';

// Through the package's own entry point (its only export), as a user compares balloon policies:
// before these were exported, a user of the installed package could not reach runMulti at all.
// The tests' small host (its spec holds nothing but plain numbers and the word count), through the entry.
const spec = (config: MultiRunSpec['config'], policy?: BalloonPolicy): MultiRunSpec => ({
  ...smallMulti(config, 8),
  workload: buildWorkload({ kind: 'metis-wc' }, 0.05),
  ...(policy ? { policy } : {}),
});

test('the library entry runs many guests with MOM, or with a policy of the user, and the policy decides', () => {
  // A user's policy: MOM's decisions, but never more than 4 MiB of balloon in any guest.
  const mom = new MomBalloonPolicy({ ...MOM_DEFAULTS, statsIntervalS: 0.25, policyIntervalS: 0.5 });
  const seen = new Set<string>();
  const capped: BalloonPolicy = {
    name: 'mom-capped',
    statsIntervalS: mom.statsIntervalS,
    policyIntervalS: mom.policyIntervalS,
    observeHost: (s) => mom.observeHost(s),
    observeGuest: (g: string, s: GuestBalloonStats) => {
      seen.add(g);
      mom.observeGuest(g, s);
    },
    forgetGuest: (g) => mom.forgetGuest(g),
    decide: () =>
      mom.decide().map((t) => ({ ...t, targetKiB: Math.max(t.targetKiB, 102.4 * 1024 - 4 * 1024) })),
  };
  const r = runMulti(spec('balloon', capped));
  assert.equal(seen.size, 8, 'every guest reported its statistics to the policy');
  assert.equal(r.guests.length, 8);
  for (const g of r.guests) assert.equal(g.metrics.integrityViolations, 0, `guest ${g.guest}`);
  const largest = (x: ReturnType<typeof runMulti>): number =>
    Math.max(...x.timeline.balloonPages.map((pages) => Math.max(...pages)));
  // Eight guests overcommit this host: MOM alone inflates past the cap; the user's policy stops at it.
  assert.ok(largest(runMulti(spec('balloon'))) > 1024, 'MOM by default balloons more than 4 MiB');
  assert.equal(largest(r), 1024, 'the capped policy inflated up to its cap and no further');
});
