import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/outbox/outbox-store.js';
import { json, open, crashAndReopen, useStoreFixture } from './store-fixture.js';

/**
 * A QoS 1/2 packet committed but not acked when the agent died comes again after the restart,
 * with the same packet id and the DUP flag (MQTT 3.1.1 §3.3.1.1). It must be recognised, or the
 * receiver gets it twice under two webhook-ids; and a new packet must never be taken for it.
 */

useStoreFixture();

describe('OutboxStore: MQTT redelivery after a crash', () => {
  const mqttEvent = (
    payload: string,
    messageId: number,
    qos: 1 | 2,
    dup: boolean,
    topic = 'd/x',
  ): NewEvent => ({
    ...json('d.x', null),
    topic,
    payload: Buffer.from(payload),
    data: { kind: 'text', text: payload },
    mqtt: { messageId, qos, dup },
  });

  for (const qos of [1, 2] as const) {
    it(`QoS ${qos}: the same packet again with DUP is a duplicate; the same id without DUP or with other content is new`, () => {
      const o = open();
      expect(o.store.append([mqttEvent('21.5', 7, qos, false)]).stored).toBe(1);
      // Crash before the PUBACK/PUBREC reached the broker: nothing was marked acked.
      const o2 = crashAndReopen(o);
      expect(o2.store.append([mqttEvent('21.5', 7, qos, true)])).toEqual({
        full: false,
        stored: 0,
        duplicates: 1,
        accepted: 1,
      });
      expect(o2.store.append([mqttEvent('21.6', 7, qos, true)])).toMatchObject({ stored: 1, duplicates: 0 });
      expect(o2.store.append([mqttEvent('21.6', 7, qos, true, 'd/y')])).toMatchObject({
        stored: 1,
        duplicates: 0,
      });
      const o3 = crashAndReopen(o2);
      o3.store.append([mqttEvent('same', 9, qos, false)]);
      const o4 = crashAndReopen(o3);
      // A new message that reuses the packet id (no DUP) is data, even with the same content.
      expect(o4.store.append([mqttEvent('same', 9, qos, false)])).toMatchObject({ stored: 1, duplicates: 0 });
      expect(o4.store.counts()).toMatchObject({ received: 5, pending: 5 });
    });
  }

  it('forgets a packet id once its ack reached the broker', () => {
    const o = open();
    o.store.append([mqttEvent('a', 3, 1, false)]);
    o.store.markAcked(3);
    o.store.append([json('e', 'other')]);
    expect(o.store.append([mqttEvent('a', 3, 1, true)])).toMatchObject({ stored: 1, duplicates: 0 });
  });

  it('a re-send that shares a batch with the packet that retires its guard is still recognised', () => {
    // After a broker restart: packet 7 (acked on the old connection) comes again, then the first
    // new packet, which tells the agent that no earlier ack is in doubt (markAcked). Both land
    // in one group commit; the re-send must be checked before its guard goes.
    const o = open();
    o.store.append([mqttEvent('21.5', 7, 1, false)]);
    o.store.markAcked(7);
    expect(o.store.append([mqttEvent('21.5', 7, 1, true), mqttEvent('22.0', 8, 1, false)])).toEqual({
      full: false,
      stored: 1,
      duplicates: 1,
      accepted: 2,
    });
    expect(o.store.counts()).toMatchObject({ received: 2 });
  });

  it('the guard of a new packet that reuses an acked id in the same batch stays', () => {
    const o = open();
    o.store.append([mqttEvent('old', 5, 1, false)]);
    o.store.markAcked(5);
    expect(o.store.append([mqttEvent('new', 5, 1, false)])).toMatchObject({ stored: 1 });
    // A crash before the new packet's ack: its re-send is recognised.
    const o2 = crashAndReopen(o);
    expect(o2.store.append([mqttEvent('new', 5, 1, true)])).toMatchObject({ stored: 0, duplicates: 1 });
  });
});
