// Read every partition of a topic from the beginning with kafkajs.
// Usage: node kafkajs_read.js BROKER TOPIC GROUP TIMEOUT_MS
// The end offsets are listed first (admin.fetchTopicOffsets); one consumer
// in a fresh group reads until every partition reached its end, then one
// line per record is printed: "partition offset value". The Go test
// (replication_interop_test.go) checks what was read.
const { Kafka, logLevel } = require('kafkajs')

const [broker, topic, groupId, timeoutArg] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'kafkajs-itest-read', brokers: [broker], logLevel: logLevel.NOTHING })

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  const ends = {}
  for (const o of await admin.fetchTopicOffsets(topic)) ends[o.partition] = Number(o.high)
  await admin.disconnect()
  const next = {}
  for (const p of Object.keys(ends)) next[p] = 0
  const atEnd = () => Object.keys(ends).every(p => next[p] >= ends[p])
  const lines = []
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, maxBytesPerPartition: 4 << 20 })
  let done
  const finished = new Promise(resolve => { done = resolve })
  if (atEnd()) done()
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        lines.push(batch.partition + ' ' + m.offset + ' ' + m.value.toString())
        next[batch.partition] = Number(m.offset) + 1
      }
      if (atEnd()) done()
    }
  })
  const timer = setTimeout(() => { console.error('timeout: read up to', next, 'of', ends); process.exit(1) }, Number(timeoutArg))
  await finished
  clearTimeout(timer)
  await consumer.disconnect()
  process.stdout.write(lines.join('\n') + '\n')
}

main().catch(e => { console.error(e); process.exit(1) })
