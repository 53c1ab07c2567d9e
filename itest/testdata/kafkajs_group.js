// Consume a topic with two kafkajs consumers in one consumer group.
// Usage: node kafkajs_group.js BROKER TOPIC GROUP COUNT TIMEOUT_MS
// Each consumer subscribes from the beginning; kafkajs commits what
// eachMessage returned (autoCommit) and again on disconnect. Once COUNT
// records arrived (or the timeout passed) both disconnect, and one JSON
// object is printed; the Go test (TestKafkaJSConsumerGroup) asserts.
const { Kafka, logLevel } = require('kafkajs')

const [broker, topic, groupId, countArg, timeoutArg] = process.argv.slice(2)
const count = Number(countArg)
const kafka = new Kafka({ clientId: 'kafkajs-itest', brokers: [broker], logLevel: logLevel.NOTHING })

async function main () {
  const records = []
  const byConsumer = [0, 0]
  const crashes = []
  let done
  const finished = new Promise(resolve => { done = resolve })
  const consumers = [0, 1].map(() => kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 }))
  await Promise.all(consumers.map(async (c, i) => {
    c.on(c.events.CRASH, e => crashes.push(String(e.payload.error)))
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({
      eachMessage: async ({ partition, message }) => {
        records.push([partition, Number(message.offset), message.value.toString()])
        byConsumer[i]++
        if (records.length >= count) done()
      }
    })
  }))
  const timer = setTimeout(done, Number(timeoutArg))
  await finished
  clearTimeout(timer)
  await Promise.all(consumers.map(c => c.disconnect()))
  console.log(JSON.stringify({ records, byConsumer, crashes }))
}

main().catch(e => { console.error(e); process.exit(1) })
