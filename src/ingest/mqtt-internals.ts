import { type MqttClient, type Packet, Store } from 'mqtt';

/**
 * Every mqtt.js internal that the ack-after-commit path relies on, in one place (mqtt is pinned
 * to an exact version in package.json). `test/ingest/mqtt-internals.test.ts` checks each one
 * against the installed mqtt.js with a real broker and fails, naming the internal, when an
 * upgrade changes it:
 *
 * - `client._sendPacket(packet, cb, cbStorePut, noStore)` sends every outgoing packet,
 *   PUBACK and PUBREC included, and mqtt.js reads the next incoming packet only once `cb` runs;
 * - `incomingStore.put` receives a QoS 2 PUBLISH before its PUBREC goes out, and
 *   `incomingStore.get` is asked for every PUBREL (also one whose PUBLISH it never stored);
 * - `client.options.reconnectPeriod` is read again before each reconnect, so changing it at
 *   run time changes the next delay.
 *
 * `handleMessage(packet, cb)` (the PUBACK goes out when `cb` runs) is public API.
 */

export type SendPacket = (
  packet: Packet,
  cb?: (err?: Error) => void,
  cbStorePut?: () => void,
  noStore?: boolean,
) => void;

export interface IncomingStoreHooks {
  /** A QoS 2 PUBLISH, before mqtt.js stores it and answers PUBREC. */
  beforeQos2Stored: (packet: Packet) => void;
  /** A PUBREL: the broker has our PUBREC and will not send that PUBLISH again. */
  onPubrel: (messageId: number) => void;
}

/** An mqtt.js incoming store that tells the hooks when QoS 2 packets pass through it. */
export function hookedIncomingStore(hooks: IncomingStoreHooks): Store {
  const store = new Store();
  const put = store.put.bind(store);
  store.put = (packet: Packet, cb: (err?: Error) => void) => {
    if (packet.cmd === 'publish' && packet.qos === 2) hooks.beforeQos2Stored(packet);
    return put(packet, cb);
  };
  const get = store.get.bind(store);
  store.get = (packet: Packet, cb: Parameters<typeof get>[1]) => {
    if (packet.cmd === 'pubrel' && packet.messageId !== undefined) hooks.onPubrel(packet.messageId);
    return get(packet, cb);
  };
  return store;
}

/**
 * Routes every packet the client sends through `intercept`, which either sends it (by calling
 * the returned original) or keeps it to send later. Returns the original send.
 */
export function interceptSend(
  client: MqttClient,
  intercept: (packet: Packet, send: SendPacket, cb?: (err?: Error) => void) => void,
): SendPacket {
  const internals = client as unknown as { _sendPacket?: SendPacket };
  if (typeof internals._sendPacket !== 'function')
    throw new Error('mqtt.js has no client._sendPacket: the ack-after-commit path needs it');
  const send = internals._sendPacket.bind(client);
  internals._sendPacket = (packet, cb, cbStorePut, noStore) =>
    intercept(packet, (p, c) => send(p, c ?? cb, cbStorePut, noStore), cb);
  return send;
}

/** The delay before the next reconnect attempt, changed while the client runs. */
export function setReconnectPeriod(client: MqttClient, ms: number): void {
  client.options.reconnectPeriod = ms;
}
