import type { SettingsView } from '../../../src/admin/api-types.js';
import { api, describeError } from '../api.js';
import { button, h, notice } from '../dom.js';
import { desktopApi } from '../desktop.js';
import { Form, fieldset, type Field } from '../form.js';
import { sizeForInput } from '../format.js';
import { card, loading, pageHeader, type Page } from '../page.js';
import { intCheck, parseSize, required, sizeCheck, splitList } from '../validate.js';

/**
 * Broker, storage and admin settings. Only changed keys are sent (PUT /api/settings is
 * partial); the answer lists the keys that need a restart, shown until the page is left.
 */

export const settingsPage: Page = (main) => {
  const host = h('div', {}, loading());
  const result = notice();
  main.append(pageHeader('Settings'), result.el, host);
  const desktop = desktopCard();
  let alive = true;

  const load = async () => {
    let s: SettingsView;
    try {
      s = await api.settings();
    } catch (err) {
      host.replaceChildren(
        h('p', { class: 'form-error' }, `Could not load the settings: ${describeError(err)}`),
      );
      return;
    }
    if (alive) host.replaceChildren(settingsForm(s, result, load), ...(desktop ? [desktop] : []));
  };
  void load();
  return () => {
    alive = false;
  };
};

type Notice = ReturnType<typeof notice>;

function settingsForm(s: SettingsView, result: Notice, reload: () => Promise<void>): HTMLElement {
  /** Each field with how to read it back into the partial body. */
  const readers: { field: Field; path: string[]; read: (f: Field) => unknown; initial: unknown }[] = [];
  const form = new Form('Settings', async () => {
    const body: Record<string, unknown> = {};
    for (const r of readers) {
      const v = r.read(r.field);
      if (v === undefined || JSON.stringify(v) === JSON.stringify(r.initial)) continue;
      let o = body;
      for (const k of r.path.slice(0, -1)) {
        o[k] ??= {};
        o = o[k] as Record<string, unknown>;
      }
      o[r.path[r.path.length - 1]!] = v;
    }
    if (Object.keys(body).length === 0) {
      result.show('Nothing changed.', 'info');
      return;
    }
    const res = await api.saveSettings(body);
    await reload();
    if (res.restartRequired.length > 0) {
      result.show(
        h(
          'div',
          {},
          h('strong', {}, 'Saved: restart required. '),
          'These changes take effect when the agent restarts: ',
          h('span', { class: 'mono' }, res.restartRequired.join(', ')),
          '.',
        ),
        'info',
      );
    } else result.show('Saved. The changes are in effect.');
  });

  const add = (
    path: string,
    opts: Omit<Parameters<Form['add']>[0], 'name'>,
    read: (f: Field) => unknown,
    initial: unknown,
  ) => {
    const field = form.add({ name: path, ...opts });
    readers.push({ field, path: path.split('.'), read, initial });
    return field;
  };
  const text = (f: Field) => f.value.trim();
  const optText = (f: Field) => f.value.trim() || undefined;
  const num = (f: Field) => (f.value.trim() === '' ? undefined : Number(f.value));

  const agentId = add(
    'agentId',
    {
      label: 'Agent ID',
      value: s.agentId,
      check: required('The agent ID'),
      hint: 'Names this agent in every webhook.',
    },
    text,
    s.agentId,
  );
  const logLevel = add(
    'logLevel',
    {
      label: 'Log level',
      kind: 'select',
      value: s.logLevel,
      options: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => [l, l] as const),
    },
    text,
    s.logLevel,
  );

  const mqttUrl = add(
    'mqtt.url',
    {
      label: 'Broker',
      value: s.mqtt.url,
      check: (v) =>
        v.trim() === 'embedded' || /^(mqtts?|wss?|tcp|ssl):\/\/./.test(v.trim())
          ? undefined
          : 'use "embedded" or an mqtt://, mqtts://, ws:// or wss:// URL',
      hint: '"embedded" runs a broker inside the agent; otherwise mqtt://host:1883.',
    },
    text,
    s.mqtt.url,
  );
  const embHost = add(
    'mqtt.embedded.host',
    {
      label: 'Embedded broker host',
      value: s.mqtt.embedded.host,
      hint: '0.0.0.0 lets devices on the network publish to it.',
    },
    text,
    s.mqtt.embedded.host,
  );
  const embPort = add(
    'mqtt.embedded.port',
    {
      label: 'Embedded broker port',
      kind: 'number',
      value: String(s.mqtt.embedded.port),
      check: intCheck('The port', 0, 65535),
    },
    num,
    s.mqtt.embedded.port,
  );
  const clientId = add(
    'mqtt.clientId',
    {
      label: 'Client ID',
      value: s.mqtt.clientId,
      hint: 'Fixed, so the broker keeps the session while the agent is away.',
    },
    text,
    s.mqtt.clientId,
  );
  const username = add(
    'mqtt.username',
    { label: 'Username', value: s.mqtt.username ?? '', autocomplete: 'off' },
    optText,
    s.mqtt.username,
  );
  const password = add(
    'mqtt.password',
    {
      label: 'Password',
      kind: 'password',
      value: '',
      placeholder: s.mqtt.hasPassword ? 'set: leave empty to keep it' : 'none',
      autocomplete: 'new-password',
    },
    optText,
    undefined,
  );
  const protocol = add(
    'mqtt.protocolVersion',
    {
      label: 'Protocol version',
      kind: 'select',
      value: String(s.mqtt.protocolVersion),
      options: [
        ['4', 'MQTT 3.1.1'],
        ['5', 'MQTT 5'],
      ],
    },
    num,
    s.mqtt.protocolVersion,
  );

  const maxBytes = add(
    'storage.maxBytes',
    {
      label: 'Max outbox size',
      value: sizeForInput(s.storage.maxBytes),
      check: sizeCheck,
      hint: 'e.g. 512MiB, 2GB; the outbox never grows past it.',
    },
    (f) => parseSize(f.value),
    s.storage.maxBytes,
  );
  const whenFull = add(
    'storage.whenFull',
    {
      label: 'When full',
      kind: 'select',
      value: s.storage.whenFull,
      options: [
        ['drop-oldest', 'drop the oldest events (counted)'],
        ['stop-ingest', 'stop taking messages (the broker holds them)'],
      ],
    },
    text,
    s.storage.whenFull,
  );
  const keep = add(
    'storage.keepDeliveredHours',
    {
      label: 'Keep delivered (hours)',
      kind: 'number',
      value: String(s.storage.keepDeliveredHours),
      check: (v) => (v.trim() === '' || Number(v) >= 0 ? undefined : 'hours, 0 or more'),
      hint: 'How long delivered events stay for the log and replay.',
    },
    num,
    s.storage.keepDeliveredHours,
  );

  const adminHost = add(
    'admin.host',
    {
      label: 'Admin host',
      value: s.admin.host,
      check: required('The admin host'),
      hint: 'Anything but loopback serves HTTPS (see the certificate below); every address needs the token.',
    },
    text,
    s.admin.host,
  );
  const adminPort = add(
    'admin.port',
    {
      label: 'Admin port',
      kind: 'number',
      value: String(s.admin.port),
      check: intCheck('The port', 0, 65535),
    },
    num,
    s.admin.port,
  );
  const allowed = add(
    'admin.allowedHosts',
    {
      label: 'Allowed host names',
      value: s.admin.allowedHosts.join(', '),
      hint: 'Extra names this UI may be reached by (comma-separated).',
    },
    (f) => splitList(f.value),
    s.admin.allowedHosts,
  );

  const heartbeat = add(
    'heartbeat.intervalSeconds',
    {
      label: 'Heartbeat every (seconds)',
      kind: 'number',
      value: String(s.heartbeat.intervalSeconds),
      check: intCheck('The interval', 0, 86_400 * 7),
      hint: '0 is off. Sends an edgehook.heartbeat event (backlog, disk, endpoints) to the endpoints whose types include edgehook.*.',
    },
    num,
    s.heartbeat.intervalSeconds,
  );
  // The certificate this page came over: compare it with the one the browser shows.
  const tlsFacts = h(
    'dl',
    { class: 'facts', id: 'admin-tls' },
    h('dt', {}, 'Served over'),
    h('dd', {}, s.admin.https ? 'HTTPS' : 'plain HTTP'),
    ...(s.admin.fingerprint256
      ? [
          h('dt', {}, 'Certificate SHA-256'),
          h('dd', { class: 'mono', id: 'admin-fingerprint' }, s.admin.fingerprint256),
        ]
      : []),
  );

  form.el.append(
    h(
      'div',
      { class: 'settings-grid' },
      card(null, fieldset('Agent', agentId.row, logLevel.row)),
      card(
        null,
        fieldset(
          'MQTT broker',
          mqttUrl.row,
          embHost.row,
          embPort.row,
          clientId.row,
          username.row,
          password.row,
          protocol.row,
        ),
      ),
      card(null, fieldset('Storage', maxBytes.row, whenFull.row, keep.row)),
      card(null, fieldset('Admin server', adminHost.row, adminPort.row, allowed.row), tlsFacts),
      card(null, fieldset('Health', heartbeat.row)),
    ),
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('span', { class: 'muted' }, 'Broker and admin address changes need a restart; the page says which.'),
    ),
  );
  return form.el;
}

/** Desktop-only actions, present only inside the Electron window. */
function desktopCard(): HTMLElement | undefined {
  const desk = desktopApi();
  if (!desk) return undefined;
  const facts = h('dl', { class: 'facts' });
  const msg = notice();
  const startAtLogin = h('input', { type: 'checkbox', id: 'start-at-login' });
  startAtLogin.addEventListener('change', () => {
    desk
      .setStartAtLogin(startAtLogin.checked)
      .then((v) => {
        startAtLogin.checked = v;
      })
      .catch((err: Error) => msg.show(`Could not change it: ${err.message}`, 'bad'));
  });
  desk
    .info()
    .then((info) => {
      facts.replaceChildren(
        h('dt', {}, 'Config file'),
        h('dd', { class: 'mono' }, info.configFile),
        h('dt', {}, 'Data folder'),
        h('dd', { class: 'mono' }, info.dataDir),
        h('dt', {}, 'Log file'),
        h('dd', { class: 'mono' }, info.logFile),
        h('dt', {}, 'Version'),
        h('dd', {}, `${info.version} (${info.platform})`),
      );
      startAtLogin.checked = info.startAtLogin;
    })
    .catch(() => undefined);
  const run = (fn: () => Promise<void>) => () =>
    void fn().catch((err: Error) => msg.show(err.message, 'bad'));
  return card(
    'Desktop',
    facts,
    h(
      'div',
      { class: 'toolbar' },
      button(
        'Open data folder',
        run(() => desk.openDataFolder()),
      ),
      button(
        'Open config file',
        run(() => desk.openConfigFile()),
      ),
      button(
        'Open log file',
        run(() => desk.openLogFile()),
      ),
    ),
    h(
      'div',
      { class: 'field field-check' },
      startAtLogin,
      h('label', { for: 'start-at-login' }, 'Start at login'),
    ),
    msg.el,
  );
}
