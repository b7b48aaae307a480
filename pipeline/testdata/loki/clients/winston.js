// winston + winston-loki: `node winston.js protobuf` (the transport's default, snappy
// protobuf) or `node winston.js json` (`json: true`). Sends one batch to $LOKI_URL.
const winston = require('winston')
const LokiTransport = require('winston-loki')
const { entries, longLine } = require('./scenario')

const json = process.argv[2] === 'json'
const transport = new LokiTransport({
  host: process.env.LOKI_URL,
  json,
  labels: { app: 'payments', namespace: 'shop' },
  replaceTimestamp: false, // keep the timestamps we pass
  interval: 600, // everything goes in the one batch sent by close()
  gracefulShutdown: false,
  onConnectionError: err => { console.error(err); process.exitCode = 1 }
})
const logger = winston.createLogger({ level: 'debug', transports: [transport] })

for (const e of entries) {
  const meta = { timestamp: new Date(e.ms).toISOString() }
  if (e.app !== 'payments') meta.labels = { app: e.app }
  if (e.level === 'error') meta.order = 4711
  logger.log({ level: e.level, message: longLine(e), ...meta })
}
setImmediate(() => transport.close())
