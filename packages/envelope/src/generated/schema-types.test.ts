import type { Envelope, TrieveClick, TrieveEvent, TrievePurchase } from './schema-types';

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_check: T): void {}

describe('generated/schema-types.ts', () => {
  test('the Trieve event is a union discriminated by event_type', () => {
    assertType<Equal<Extract<TrieveEvent, { event_type: 'click' }>, TrieveClick>>(true);
    assertType<Equal<Extract<TrieveEvent, { event_type: 'purchase' }>, TrievePurchase>>(true);
    assertType<Equal<TrieveEvent['event_type'], 'view' | 'add_to_cart' | 'click' | 'purchase' | 'filter_clicked' | 'search' | 'rag' | 'recommendation'>>(true);
    // Properties a schema does not declare are not part of the type (no index signature).
    assertType<Equal<'latency' extends keyof TrieveClick ? true : false, false>>(true);
    assertType<Equal<string extends keyof TrieveClick ? true : false, false>>(true);
    assertType<Equal<string extends keyof Envelope ? true : false, false>>(true);
  });
});
