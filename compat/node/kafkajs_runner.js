// Compat scenarios with kafkajs and its admin client. Run by compat/run.py.
// kafkajs has no consumer without a group (no assign), so every read here goes through a consumer group.
// It ships gzip; snappy, lz4 and zstd are codecs the application registers (here: kafkajs-snappy, and lz4js /
// zstd-codec, pure JavaScript, wrapped as kafkajs codecs below).
import { createRequire } from 'node:module'
import kafkajs from 'kafkajs'
import SnappyCodec from 'kafkajs-snappy'
import lz4 from 'lz4js'
import zstdCodec from 'zstd-codec'
import {
  addresses, replicationFactor,
  KEYS, PARTITIONS, Failure, check, groupName, main, messages, sleep, topicName, verifyConsumed, waitFor
} from './harness.js'

const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = kafkajs
const require = createRequire(import.meta.url)
const VERSION = require('kafkajs/package.json').version
const CLIENT = 'kafkajs'
const GROUP_TIMING = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000, maxWaitTimeInMs: 500 }

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress (encoder) { return Buffer.from(lz4.compress(encoder.buffer)) },
  async decompress (buffer) { return Buffer.from(lz4.decompress(buffer)) }
})
let zstdSimple = null
const zstdReady = new Promise((resolve) => zstdCodec.ZstdCodec.run((z) => { zstdSimple = new z.Simple(); resolve() }))
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress (encoder) { await zstdReady; return Buffer.from(zstdSimple.compress(encoder.buffer, 3)) },
  async decompress (buffer) { await zstdReady; return Buffer.from(zstdSimple.decompress(buffer)) }
})

function kafka (bootstrap) {
  return new Kafka({
    clientId: 'kbroker-compat',
    brokers: addresses(bootstrap),
    logLevel: logLevel.ERROR,
    logCreator: () => ({ namespace, log }) => console.error(`[kafkajs ${namespace}] ${log.message} ${log.error ?? ''}`),
    retry: { retries: 4, initialRetryTime: 200 },
    connectionTimeout: 5000,
    requestTimeout: 15000
  })
}

async function withAdmin (bootstrap, fn) {
  const admin = kafka(bootstrap).admin()
  await admin.connect()
  try { return await fn(admin) } finally { await admin.disconnect() }
}

async function create (bootstrap, topic, partitions = PARTITIONS) {
  const created = await withAdmin(bootstrap, (a) =>
    a.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: replicationFactor(bootstrap) }],
      waitForLeaders: true
    }))
  check(created === true, `createTopics answered ${created}`)
}

/** Produce with acks=all in several send() calls; check every partition response. */
async function produce (bootstrap, topic, { items = messages(), producerOptions = {}, sendOptions = {} } = {}) {
  const p = kafka(bootstrap).producer({ allowAutoTopicCreation: false, ...producerOptions })
  await p.connect()
  try {
    const chunk = Math.ceil(items.length / 5)
    for (let i = 0; i < items.length; i += chunk) {
      const res = await p.send({
        topic,
        acks: -1,
        messages: items.slice(i, i + chunk).map(([k, v]) => ({ key: k, value: v })),
        ...sendOptions
      })
      for (const r of res) {
        check(r.errorCode === 0 && Number(r.baseOffset) >= 0, `delivery report ${JSON.stringify(r)}`)
      }
    }
  } finally {
    await p.disconnect()
  }
}

/** A group consumer that records [key, value, partition, offset]; when `keep(row)` is false it pauses the topic
 * and leaves that message unrecorded (and, with autoCommit off, uncommitted). */
async function groupConsumer (bootstrap, group, topic, { consumerOptions = {}, runOptions = {}, keep = null } = {}) {
  const c = kafka(bootstrap).consumer({ groupId: group, ...GROUP_TIMING, ...consumerOptions })
  const rows = []
  const assigned = new Set()
  c.on(c.events.GROUP_JOIN, (e) => {
    assigned.clear()
    for (const p of e.payload.memberAssignment[topic] ?? []) assigned.add(p)
  })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  await c.run({
    ...runOptions,
    eachMessage: async ({ partition, message }) => {
      const row = [message.key.toString(), message.value.toString(), partition, message.offset]
      if (keep && !keep(row)) { c.pause([{ topic }]); return } // not recorded, not committed
      rows.push(row)
    }
  })
  return { c, rows, assigned }
}

const threeOf = (rows) => rows.map(([k, v, p]) => [k, v, p])

// ---------------------------------------------------------------------------------------------- scenarios

async function metadata (bootstrap) {
  await withAdmin(bootstrap, async (a) => {
    const cl = await a.describeCluster()
    const want = addresses(bootstrap).sort()
    check(cl.brokers.length === want.length, `brokers ${JSON.stringify(cl.brokers)}, bootstrap ${want}`)
    const advertised = cl.brokers.map((b) => `${b.host}:${b.port}`).sort()
    check(JSON.stringify(advertised) === JSON.stringify(want), `brokers advertised as ${advertised}`)
    check(cl.brokers.some((b) => b.nodeId === cl.controller), `controller ${cl.controller}`)
    check(cl.clusterId, 'no cluster id')
  })
}

async function createTopic (bootstrap) {
  const t = topicName(CLIENT, 'create')
  await create(bootstrap, t)
  await withAdmin(bootstrap, async (a) => {
    const md = await a.fetchTopicMetadata({ topics: [t] })
    check(md.topics[0].partitions.length === PARTITIONS, `${md.topics[0].partitions.length} partitions`)
    for (const p of md.topics[0].partitions) {
      check(p.replicas.length === replicationFactor(bootstrap), `partition ${p.partitionId} replicas ${p.replicas}`)
    }
    const again = await a.createTopics({
      topics: [{ topic: t, numPartitions: PARTITIONS, replicationFactor: replicationFactor(bootstrap) }]
    })
    check(again === false, 'creating an existing topic did not answer TOPIC_ALREADY_EXISTS')
  })
}

async function produceAcksAll (bootstrap) {
  const t = topicName(CLIENT, 'produce')
  await create(bootstrap, t)
  await produce(bootstrap, t)
  await withAdmin(bootstrap, async (a) => {
    const offs = await a.fetchTopicOffsets(t)
    const total = offs.reduce((s, o) => s + Number(o.high) - Number(o.low), 0)
    check(total === messages().length, `partitions hold ${total} messages, ${messages().length} produced`)
  })
}

async function consumeGroup (bootstrap) {
  const t = topicName(CLIENT, 'consume')
  await create(bootstrap, t)
  await produce(bootstrap, t)
  const { c, rows } = await groupConsumer(bootstrap, groupName(CLIENT, 'consume'), t)
  try {
    await waitFor(() => rows.length >= messages().length, 40)
    await sleep(500)
  } finally {
    await c.disconnect()
  }
  verifyConsumed(threeOf(rows))
}

async function commitResume (bootstrap) {
  const t = topicName(CLIENT, 'resume')
  const g = groupName(CLIENT, 'resume')
  await create(bootstrap, t)
  await produce(bootstrap, t)
  const total = messages().length
  const half = total / 2
  let first
  {
    let kept = 0
    const { c, rows } = await groupConsumer(bootstrap, g, t, {
      runOptions: { autoCommit: false },
      keep: () => kept < half && ++kept > 0
    })
    first = rows
    try {
      check(await waitFor(() => rows.length >= half, 40), `first consumer got ${rows.length} of ${half}`)
      await c.pause([{ topic: t }])
      const next = new Map()
      for (const [, , p, o] of rows) next.set(p, Math.max(next.get(p) ?? 0, Number(o) + 1))
      await c.commitOffsets([...next].map(([partition, offset]) => ({ topic: t, partition, offset: String(offset) })))
    } finally {
      await c.disconnect()
    }
  }
  const { c, rows } = await groupConsumer(bootstrap, g, t)
  try {
    await waitFor(() => rows.length >= total - half, 40)
    await sleep(1500)
  } finally {
    await c.disconnect()
  }
  verifyConsumed(threeOf([...first, ...rows]))
}

async function groupRebalance (bootstrap) {
  const t = topicName(CLIENT, 'rebalance')
  const g = groupName(CLIENT, 'rebalance')
  await create(bootstrap, t)
  const all = [...Array(PARTITIONS).keys()]
  const opts = { runOptions: { autoCommitThreshold: 1 } }
  const m1 = await groupConsumer(bootstrap, g, t, opts)
  let m2 = null
  try {
    check(await waitFor(() => m1.assigned.size === PARTITIONS, 30), `first member assigned ${[...m1.assigned]}`)
    m2 = await groupConsumer(bootstrap, g, t, opts)
    const split = () => m1.assigned.size > 0 && m2.assigned.size > 0 &&
      all.every((p) => m1.assigned.has(p) !== m2.assigned.has(p))
    check(await waitFor(split, 40), `two members did not split the partitions: ${[...m1.assigned]} / ${[...m2.assigned]}`)
    const a = new Set(m1.assigned)
    const b = new Set(m2.assigned)
    const batchA = []
    for (let i = 0; i < 5; i++) for (const k of KEYS) batchA.push([k, `${k}:${i}`])
    await produce(bootstrap, t, { items: batchA })
    check(await waitFor(() => m1.rows.length + m2.rows.length >= batchA.length, 30),
      `members consumed ${m1.rows.length}+${m2.rows.length} of ${batchA.length}`)
    check(m1.rows.every((r) => a.has(r[2])) && m2.rows.every((r) => b.has(r[2])),
      'a member got messages from partitions it was not assigned')
    await m2.c.disconnect()
    m2 = null
    check(await waitFor(() => m1.assigned.size === PARTITIONS, 40),
      `after the second member left the first has ${[...m1.assigned]}`)
    const before = m1.rows.length
    const batchB = []
    for (let i = 5; i < 10; i++) for (const k of KEYS) batchB.push([k, `${k}:${i}`])
    await produce(bootstrap, t, { items: batchB })
    await waitFor(() => m1.rows.length - before >= batchB.length, 30)
    await sleep(1000)
    const after = m1.rows.slice(before).map((r) => r[1]).sort()
    const want = batchB.map((r) => r[1]).sort()
    check(after.length === want.length && after.every((v, i) => v === want[i]),
      `after takeover the remaining member got ${after.length} messages, expected exactly the ${want.length} new ones`)
  } finally {
    await m1.c.disconnect()
    if (m2) await m2.c.disconnect()
  }
}

async function stableGroup (bootstrap, scenario) {
  const t = topicName(CLIENT, scenario)
  const g = groupName(CLIENT, scenario)
  await create(bootstrap, t)
  await produce(bootstrap, t, { items: messages().slice(0, 24) })
  const m = await groupConsumer(bootstrap, g, t, { runOptions: { autoCommitThreshold: 1 } })
  check(await waitFor(() => m.rows.length >= 24, 30), `group member consumed ${m.rows.length} of 24`)
  await sleep(500)
  return { t, g, m }
}

async function listGroups (bootstrap) {
  const { g, m } = await stableGroup(bootstrap, 'listgroups')
  try {
    const { groups } = await withAdmin(bootstrap, (a) => a.listGroups())
    const found = groups.find((x) => x.groupId === g)
    check(found, `group ${g} not listed among ${groups.map((x) => x.groupId)}`)
    check(found.protocolType === 'consumer', `listed as ${JSON.stringify(found)}`)
  } finally {
    await m.c.disconnect()
  }
}

async function describeGroups (bootstrap) {
  const { t, g, m } = await stableGroup(bootstrap, 'describegroups')
  try {
    await withAdmin(bootstrap, async (a) => {
      const { groups } = await a.describeGroups([g])
      const d = groups[0]
      check(d.groupId === g && d.errorCode === 0, `describe answered ${JSON.stringify(d)}`)
      check(d.state === 'Stable', `state ${d.state}`)
      check(d.protocolType === 'consumer' && d.protocol, `protocol ${d.protocolType}/${d.protocol}`)
      check(d.members.length === 1, `${d.members.length} members`)
      const offs = await a.fetchOffsets({ groupId: g, topics: [t] })
      const sum = offs[0].partitions.reduce((s, p) => s + Number(p.offset), 0)
      check(sum === 24, `committed offsets ${JSON.stringify(offs[0].partitions)}`)
    })
  } finally {
    await m.c.disconnect()
  }
}

async function listOffsets (bootstrap) {
  const t = topicName(CLIENT, 'offsets')
  await create(bootstrap, t, 1)
  const base = Date.now() - 60000
  const p = kafka(bootstrap).producer()
  await p.connect()
  try {
    await p.send({
      topic: t,
      acks: -1,
      messages: Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i), timestamp: String(base + i * 1000) }))
    })
  } finally {
    await p.disconnect()
  }
  await withAdmin(bootstrap, async (a) => {
    const [o] = await a.fetchTopicOffsets(t)
    check(o.low === '0' && o.high === '10', `earliest ${o.low}, latest ${o.high}`)
    const [byTs] = await a.fetchTopicOffsetsByTimestamp(t, base + 3500)
    check(byTs.offset === '4', `by timestamp: ${byTs.offset}, expected 4`)
    const [after] = await a.fetchTopicOffsetsByTimestamp(t, base + 99000)
    // Kafka answers -1 for a timestamp after the last message; kafkajs then reports the latest offset
    check(after.offset === '10' || after.offset === '-1', `timestamp after the last message: ${after.offset}`)
  })
}

/** Read a whole topic through a fresh group (kafkajs cannot read without one). */
async function readAll (bootstrap, t, count, consumerOptions = {}) {
  const { c, rows } = await groupConsumer(bootstrap, groupName(CLIENT, 'reader'), t, { consumerOptions })
  try {
    await waitFor(() => rows.length >= count, 30)
    await sleep(1000)
  } finally {
    await c.disconnect()
  }
  return threeOf(rows)
}

async function idempotentProducer (bootstrap) {
  const t = topicName(CLIENT, 'idempotent')
  await create(bootstrap, t)
  await produce(bootstrap, t, { producerOptions: { idempotent: true, maxInFlightRequests: 1 } })
  verifyConsumed(await readAll(bootstrap, t, messages().length))
}

async function transactions (bootstrap) {
  const t = topicName(CLIENT, 'txn')
  await create(bootstrap, t)
  const p = kafka(bootstrap).producer({
    transactionalId: topicName(CLIENT, 'txid'), idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30000
  })
  await p.connect()
  try {
    for (const [name, commit] of [['A', true], ['B', false], ['C', true]]) {
      const tx = await p.transaction()
      const msgs = []
      for (let i = 0; i < 10; i++) for (const k of KEYS.slice(0, 3)) msgs.push({ key: k, value: `${k}:${name}${i}` })
      await tx.send({ topic: t, acks: -1, messages: msgs })
      if (commit) await tx.commit(); else await tx.abort()
    }
  } finally {
    await p.disconnect()
  }
  const committed = await readAll(bootstrap, t, 60, { readUncommitted: false })
  const values = committed.map((r) => r[1])
  const aborted = values.filter((v) => v.includes(':B')).length
  check(values.length === 60 && aborted === 0, `read_committed saw ${values.length} messages (${aborted} aborted), expected 60`)
  for (const k of KEYS.slice(0, 3)) {
    const seq = committed.filter((r) => r[0] === k).map((r) => r[1].split(':')[1]).join(',')
    const want = [...Array(10).keys()].map((i) => `A${i}`).concat([...Array(10).keys()].map((i) => `C${i}`)).join(',')
    check(seq === want, `key ${k} order ${seq}`)
  }
  const everything = await readAll(bootstrap, t, 90, { readUncommitted: true })
  check(everything.length === 90, `read_uncommitted saw ${everything.length} messages, expected 90`)
}

function compression (type) {
  return async (bootstrap) => {
    const t = topicName(CLIENT, `compression-${type}`)
    await create(bootstrap, t)
    await produce(bootstrap, t, { sendOptions: { compression: type } })
    verifyConsumed(await readAll(bootstrap, t, messages().length))
  }
}

async function deleteTopic (bootstrap) {
  const t = topicName(CLIENT, 'delete')
  await create(bootstrap, t)
  await produce(bootstrap, t, { items: messages().slice(0, 8) })
  await withAdmin(bootstrap, async (a) => {
    await a.deleteTopics({ topics: [t], timeout: 10000 })
    check(await waitFor(async () => !(await a.listTopics()).includes(t), 10), 'topic still listed 10 s after deletion')
    try {
      await a.deleteTopics({ topics: [t], timeout: 10000 })
    } catch (e) {
      const code = e.type ?? e.errors?.[0]?.type ?? e.message
      check(String(code).includes('UNKNOWN_TOPIC_OR_PARTITION') ||
        JSON.stringify(e.errors ?? []).includes('UNKNOWN_TOPIC_OR_PARTITION') ||
        e.message.includes('does not host this topic-partition'), `second delete: ${e.message}`)
      return
    }
    throw new Failure('deleting a deleted topic succeeded')
  })
}

main('kafkajs', VERSION, {
  metadata,
  create_topic: createTopic,
  produce_acks_all: produceAcksAll,
  consume_group: consumeGroup,
  commit_resume: commitResume,
  group_rebalance: groupRebalance,
  list_groups: listGroups,
  describe_groups: describeGroups,
  list_offsets: listOffsets,
  idempotent_producer: idempotentProducer,
  transactions,
  compression_gzip: compression(CompressionTypes.GZIP),
  compression_snappy: compression(CompressionTypes.Snappy),
  compression_lz4: compression(CompressionTypes.LZ4),
  compression_zstd: compression(CompressionTypes.ZSTD),
  delete_topic: deleteTopic
})
