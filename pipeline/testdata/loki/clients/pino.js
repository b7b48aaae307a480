// pino + pino-loki (JSON is its only encoding): `node pino.js`. The transport runs in
// this thread (no worker) and sends one batch to $LOKI_URL when the stream ends.
const pino = require('pino')
const { pinoLoki } = require('pino-loki')
const { entries, longLine } = require('./scenario')

const transport = pinoLoki({
  host: process.env.LOKI_URL,
  labels: { namespace: 'shop' },
  propsToLabels: ['app'],
  batching: { interval: 600 }, // everything goes in the one batch sent on close
  structuredMetaKey: 'meta'
})
let now = 0
const logger = pino({ level: 'debug', base: { hostname: 'web-1' }, timestamp: () => `,"time":${now}` }, transport)

for (const e of entries) {
  now = e.ms
  const fields = { app: e.app }
  if (e.level === 'error') fields.meta = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', order: 4711 }
  logger[e.level](fields, longLine(e))
}
setImmediate(() => transport.end())
