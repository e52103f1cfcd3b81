// A webhook receiver for trying Edgehook out: verifies every request with the
// `standardwebhooks` package, drops duplicates by webhook-id, and notices gaps in `seq`.
//   EDGEHOOK_SECRET=whsec_... node examples/receiver.mjs [port]
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const secret = process.env.EDGEHOOK_SECRET;
if (!secret) {
  console.error('set EDGEHOOK_SECRET to the endpoint secret (whsec_...)');
  process.exit(2);
}
const wh = new Webhook(secret);
const seen = new Set(); // a real receiver keeps this in its database, with a TTL of a few days
let lastSeq = 0;
const port = Number(process.argv[2] ?? 9000);

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let event;
    try {
      event = wh.verify(body, req.headers); // throws on a bad signature or a stale timestamp
    } catch (err) {
      console.log(`rejected: ${err.message}`);
      res.writeHead(401).end();
      return;
    }
    const id = req.headers['webhook-id'];
    if (seen.has(id)) {
      console.log(`duplicate ${id}: already processed, acknowledging again`);
      res.writeHead(204).end();
      return;
    }
    seen.add(id);
    if (event.seq !== undefined) {
      if (lastSeq && event.seq > lastSeq + 1)
        console.log(`gap: seq ${lastSeq + 1}..${event.seq - 1} not seen (yet)`);
      lastSeq = Math.max(lastSeq, event.seq);
    }
    // edgehook/1 names the agent in `agent`; cloudevents/1.0 in `source` (edgehook://<agentId>).
    const from = event.agent ?? event.source;
    console.log(
      `[${req.headers['webhook-format']}] ${event.type} #${event.seq} from ${from}: ${JSON.stringify(event.data)}`,
    );
    res.writeHead(204).end();
  });
}).listen(port, '127.0.0.1', () => console.log(`receiver listening on http://127.0.0.1:${port}/hooks`));
