import { createConnection, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { connect, type IClientOptions, MqttClient } from 'mqtt';

/**
 * mqtt.connect() without its WebSocket and SOCKS code for plain `mqtt://` and `mqtts://` URLs.
 * mqtt.js loads the stream builders of every protocol at the first connect (the `ws` package and
 * `socks` with its address parsers): about 1.5 MB of an idle gateway's memory for protocols it
 * does not use (BENCHMARKS.md "Memory: where the MB go"). For those two schemes the client is
 * built here exactly as mqtt.js 5.16's connect/index.js, tcp.js and tls.js build it; any other
 * case (ws://, wss://, credentials or a query in the URL, a SOCKS proxy from
 * MQTTJS_SOCKS_PROXY, a client certificate on a plain mqtt:// URL, which mqtt.js turns into
 * mqtts) goes through mqtt.connect() itself.
 */
export function connectMqtt(url: string, options: IClientOptions): MqttClient {
  const u = new URL(url);
  const protocol = u.protocol.replace(/:$/, '');
  const secure = protocol === 'mqtts';
  if (
    (protocol !== 'mqtt' && !secure) ||
    u.username !== '' ||
    u.password !== '' ||
    u.search !== '' ||
    process.env.MQTTJS_SOCKS_PROXY !== undefined ||
    (!secure && options.cert !== undefined && options.key !== undefined)
  )
    return connect(url, options);
  // WHATWG URLs keep an IPv6 host in brackets; the socket wants it bare.
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const port = u.port ? Number(u.port) : secure ? 8883 : 1883;
  const opts: IClientOptions = { ...options, protocol, host, hostname: host, port };
  const client: MqttClient = new MqttClient(
    (): Duplex => (secure ? tlsStream(client, opts) : createConnection({ port, host })),
    opts,
  );
  // As mqtt.connect(): an 'error' with no listener must never throw.
  client.on('error', () => {});
  return client;
}

/** mqtt.js 5.16's connect/tls.js without its SOCKS branch. */
function tlsStream(client: MqttClient, opts: IClientOptions): Duplex {
  const host = opts.host!;
  const rejectUnauthorized = opts.rejectUnauthorized !== false;
  const servername = isIP(host) === 0 && !opts.servername ? host : opts.servername;
  const { path: _path, ...rest } = opts as IClientOptions & { path?: string };
  const connection = tlsConnect({
    ...(rest as object),
    host,
    port: opts.port,
    ...(servername !== undefined ? { servername } : {}),
    rejectUnauthorized,
  });
  const onError = (err: Error) => {
    if (rejectUnauthorized) client.emit('error', err);
    connection.end();
  };
  connection.on('secureConnect', () => {
    if (rejectUnauthorized && !connection.authorized)
      connection.emit('error', new Error('TLS not authorized'));
    else connection.removeListener('error', onError);
  });
  connection.on('error', onError);
  return connection;
}
