// The shared scenario for the Node clients (scenario.json) and the long line's text.
const { entries } = require('./scenario.json')

// A long line: the message followed by `long` numbered upstream timings (about 2.8 KB).
function longLine (e) {
  if (!e.long) return e.message
  const parts = []
  for (let i = 0; i < e.long; i++) parts.push(`upstream-${i}=${(i * 37) % 1000}ms`)
  return e.message + parts.join(' ')
}

module.exports = { entries, longLine }
