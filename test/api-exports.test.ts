import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as api from '../src/index.js';

/**
 * The core's page states, flags and LRU list kinds are const enums, which tsc writes in as numbers
 * at every use inside the project; the package's entry must still export them as objects for a
 * JavaScript user (tsconfig's preserveConstEnums). Read through a plain record, so that this test
 * sees the module's runtime exports and not numbers the compiler wrote in.
 */
test('the library entry exports State, Flag and LruList at run time', () => {
  const entry = api as unknown as Record<string, Record<string, number> | undefined>;
  assert.equal(entry['State']?.['Resident'], 1);
  assert.equal(entry['State']?.['Swapped'], 2);
  assert.equal(entry['Flag']?.['Dirty'], 2);
  assert.equal(entry['Flag']?.['DiscardOnLoad'], 128);
  assert.equal(entry['LruList']?.['ActiveFile'], 3);
});
