// Produce through a failover with kafkajs.
// Usage: node kafkajs_failover.js BROKERS TOPIC COUNT RATE TIMEOUT_MS
// Sends COUNT keyed records ("key-%06d" / "value-%06d") to partition 0 of
// TOPIC, 10 per send at RATE records a second, with an idempotent acks=-1
// producer, while the Go test (TestFailover/KafkaJSProducesThroughLeaderKill)
// kills the partition's leader; kafkajs refreshes metadata and retries on
// its own. Prints one JSON object: every delivered record ([key, partition,
// offset]) and every send error; the Go test asserts.
const { Kafka, logLevel } = require('kafkajs')

const [brokers, topic, countArg, rateArg, timeoutArg] = process.argv.slice(2)
const count = Number(countArg)
const rate = Number(rateArg)
const perSend = 10
const kafka = new Kafka({ clientId: 'kafkajs-failover', brokers: brokers.split(','), logLevel: logLevel.NOTHING })

async function main () {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const delivered = []
  const errors = []
  const start = Date.now()
  const deadline = start + Number(timeoutArg)
  for (let i = 0; i < count && Date.now() < deadline; i += perSend) {
    const wait = start + (i * 1000) / rate - Date.now()
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    const keys = []
    const messages = []
    for (let j = i; j < Math.min(i + perSend, count); j++) {
      const n = String(j).padStart(6, '0')
      keys.push('key-' + n)
      messages.push({ key: 'key-' + n, value: 'value-' + n, partition: 0 })
    }
    try {
      const [md] = await producer.send({ topic, acks: -1, messages })
      keys.forEach((k, x) => delivered.push([k, md.partition, Number(md.baseOffset) + x]))
    } catch (e) {
      errors.push(keys[0] + '..: ' + String(e))
    }
  }
  await producer.disconnect()
  console.log(JSON.stringify({ delivered, errors }))
}

main().catch(e => { console.error(e); process.exit(1) })
