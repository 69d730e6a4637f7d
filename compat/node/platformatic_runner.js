// Compat scenarios with @platformatic/kafka (Producer, Consumer, Admin). Run by compat/run.py.
// Its consumer always belongs to a group, so every read here goes through one. It compresses zstd with
// node:zlib, which Node.js has only from 22.15: on an older Node that scenario is n/a.
import zlib from 'node:zlib'
import {
  Admin, Consumer, MessagesStreamModes, Producer, ProduceAcks, FetchIsolationLevels, ListOffsetTimestamps,
  stringDeserializers, stringSerializers, clientSoftwareVersion as VERSION
} from '@platformatic/kafka'
import {
  addresses, replicationFactor,
  KEYS, PARTITIONS, Failure, NotApplicable, check, groupName, main, messages, sleep, topicName, verifyConsumed,
  waitFor
} from './harness.js'

const CLIENT = 'platformatic'
const BASE = { clientId: 'kbroker-compat', timeout: 15000, retries: 3, retryDelay: 250 }
const GROUP_TIMING = { sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000, maxWaitTime: 500 }

const brokers = (bootstrap) => addresses(bootstrap)

async function withAdmin (bootstrap, fn) {
  const admin = new Admin({ ...BASE, bootstrapBrokers: brokers(bootstrap) })
  try { return await fn(admin) } finally { await admin.close() }
}

async function create (bootstrap, topic, partitions = PARTITIONS) {
  const created = await withAdmin(bootstrap, (a) => a.createTopics({ topics: [topic], partitions, replicas: replicationFactor(bootstrap) }))
  check(created.length === 1 && created[0].name === topic, `createTopics answered ${JSON.stringify(created)}`)
}

/** Produce with acks=all; check every reported offset; return key -> partition from the producer's reports. */
async function produce (bootstrap, topic, { items = messages(), producerOptions = {}, sendOptions = {} } = {}) {
  const p = new Producer({ ...BASE, bootstrapBrokers: brokers(bootstrap), serializers: stringSerializers, ...producerOptions })
  const partOf = {}
  try {
    // one send per key-batch: each send reports one offset per partition it wrote
    const chunk = Math.ceil(items.length / 5)
    for (let i = 0; i < items.length; i += chunk) {
      const res = await p.send({
        acks: ProduceAcks.ALL,
        messages: items.slice(i, i + chunk).map(([k, v]) => ({ topic, key: k, value: v })),
        ...sendOptions
      })
      check(res.offsets && res.offsets.length > 0, `send answered ${JSON.stringify(res, (_, v) => typeof v === 'bigint' ? String(v) : v)}`)
      for (const o of res.offsets) check(o.offset >= 0n, `negative offset ${o.offset} for partition ${o.partition}`)
    }
  } finally {
    await p.close()
  }
  return partOf
}

/** A group consumer streaming from the committed offsets (else the earliest); records [key, value, partition]. */
async function groupConsumer (bootstrap, group, topic, { consumeOptions = {}, onMessage = null } = {}) {
  const c = new Consumer({ ...BASE, bootstrapBrokers: brokers(bootstrap), groupId: group, deserializers: stringDeserializers, ...GROUP_TIMING })
  const rows = []
  const assigned = new Set()
  c.on('consumer:group:join', (e) => {
    assigned.clear()
    for (const a of e.assignments ?? []) if (a.topic === topic) for (const p of a.partitions) assigned.add(p)
  })
  const stream = await c.consume({
    topics: [topic], mode: MessagesStreamModes.COMMITTED, fallbackMode: 'earliest', autocommit: 100, ...GROUP_TIMING, ...consumeOptions
  })
  stream.on('data', (m) => {
    if (onMessage) onMessage(m, rows)
    else rows.push([m.key, m.value, m.partition])
  })
  stream.on('error', (e) => console.error('stream error:', e))
  const close = async () => {
    await stream.close()
    await c.close()
  }
  return { c, rows, assigned, close }
}

// ---------------------------------------------------------------------------------------------- scenarios

async function metadata (bootstrap) {
  await withAdmin(bootstrap, async (a) => {
    const md = await a.metadata({ topics: [] })
    const want = addresses(bootstrap).sort()
    check(md.brokers.size === want.length, `brokers ${[...md.brokers.keys()]}, bootstrap ${want}`)
    const advertised = [...md.brokers.values()].map((b) => `${b.host}:${b.port}`).sort()
    check(JSON.stringify(advertised) === JSON.stringify(want), `brokers advertised as ${advertised}`)
    check(md.brokers.has(md.controllerId), `controller ${md.controllerId}`)
    check(md.id, 'no cluster id')
  })
}

async function createTopic (bootstrap) {
  const t = topicName(CLIENT, 'create')
  await create(bootstrap, t)
  await withAdmin(bootstrap, async (a) => {
    const md = await a.metadata({ topics: [t] })
    check(md.topics.get(t)?.partitionsCount === PARTITIONS, `${md.topics.get(t)?.partitionsCount} partitions`)
    for (const p of md.topics.get(t).partitions) {
      check(p.replicas.length === replicationFactor(bootstrap), `partition replicas ${p.replicas}`)
    }
    try {
      await a.createTopics({ topics: [t], partitions: PARTITIONS, replicas: replicationFactor(bootstrap) })
    } catch (e) {
      const text = JSON.stringify(e.errors?.map((x) => x.message) ?? []) + e.message
      check(/already exists|TOPIC_ALREADY_EXISTS/i.test(text) || e.errors?.length, `second create: ${text}`)
      return
    }
    throw new Failure('creating an existing topic succeeded')
  })
}

async function produceAcksAll (bootstrap) {
  const t = topicName(CLIENT, 'produce')
  await create(bootstrap, t)
  await produce(bootstrap, t)
  await withAdmin(bootstrap, async (a) => {
    const [res] = await a.listOffsets({ topics: [{ name: t, partitions: [0, 1, 2].map((p) => ({ partitionIndex: p, timestamp: ListOffsetTimestamps.LATEST })) }] })
    const total = res.partitions.reduce((s, p) => s + Number(p.offset), 0)
    check(total === messages().length, `partitions hold ${total} messages, ${messages().length} produced`)
  })
}

async function readAll (bootstrap, t, count, consumeOptions = {}) {
  const m = await groupConsumer(bootstrap, groupName(CLIENT, 'reader'), t, { consumeOptions })
  try {
    await waitFor(() => m.rows.length >= count, 30)
    await sleep(1000)
  } finally {
    await m.close()
  }
  return m.rows
}

async function consumeGroup (bootstrap) {
  const t = topicName(CLIENT, 'consume')
  await create(bootstrap, t)
  await produce(bootstrap, t)
  verifyConsumed(await readAll(bootstrap, t, messages().length))
}

async function commitResume (bootstrap) {
  const t = topicName(CLIENT, 'resume')
  const g = groupName(CLIENT, 'resume')
  await create(bootstrap, t)
  await produce(bootstrap, t)
  const total = messages().length
  const half = total / 2
  const commits = []
  const m1 = await groupConsumer(bootstrap, g, t, {
    consumeOptions: { autocommit: false },
    onMessage: (m, rows) => {
      if (rows.length >= half) return
      rows.push([m.key, m.value, m.partition])
      commits.push(m.commit())
    }
  })
  try {
    check(await waitFor(() => m1.rows.length >= half, 40), `first consumer got ${m1.rows.length} of ${half}`)
    await Promise.all(commits)
  } finally {
    await m1.close()
  }
  const m2 = await groupConsumer(bootstrap, g, t)
  try {
    await waitFor(() => m2.rows.length >= total - half, 40)
    await sleep(1500)
  } finally {
    await m2.close()
  }
  verifyConsumed([...m1.rows, ...m2.rows])
}

async function groupRebalance (bootstrap) {
  const t = topicName(CLIENT, 'rebalance')
  const g = groupName(CLIENT, 'rebalance')
  await create(bootstrap, t)
  const all = [...Array(PARTITIONS).keys()]
  const commitEach = { consumeOptions: { autocommit: false }, onMessage: (m, rows) => { rows.push([m.key, m.value, m.partition]); m.commit() } }
  const m1 = await groupConsumer(bootstrap, g, t, commitEach)
  let m2 = null
  try {
    check(await waitFor(() => m1.assigned.size === PARTITIONS, 30), `first member assigned ${[...m1.assigned]}`)
    m2 = await groupConsumer(bootstrap, g, t, commitEach)
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
    // its stream may hand out messages fetched just before a late rebalance, so the split is judged by where
    // batch A went: no partition read by both members, each member some partitions
    const p1 = new Set(m1.rows.map((r) => r[2]))
    const p2 = new Set(m2.rows.map((r) => r[2]))
    check(p1.size > 0 && p2.size > 0 && [...p1].every((p) => !p2.has(p)),
      `batch A was not split: first member read partitions ${[...p1]} (assigned ${[...a]}), second ${[...p2]} (assigned ${[...b]})`)
    check(m1.rows.length + m2.rows.length === batchA.length, `members consumed ${m1.rows.length}+${m2.rows.length} of ${batchA.length}`)
    await sleep(300)
    await m2.close()
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
    await m1.close()
    if (m2) await m2.close()
  }
}

async function stableGroup (bootstrap, scenario) {
  const t = topicName(CLIENT, scenario)
  const g = groupName(CLIENT, scenario)
  await create(bootstrap, t)
  await produce(bootstrap, t, { items: messages().slice(0, 24) })
  const m = await groupConsumer(bootstrap, g, t, {
    consumeOptions: { autocommit: false },
    onMessage: (msg, rows) => { rows.push([msg.key, msg.value, msg.partition]); msg.commit() }
  })
  check(await waitFor(() => m.rows.length >= 24, 30), `group member consumed ${m.rows.length} of 24`)
  await sleep(500)
  return { t, g, m }
}

async function listGroups (bootstrap) {
  const { g, m } = await stableGroup(bootstrap, 'listgroups')
  try {
    const groups = await withAdmin(bootstrap, (a) => a.listGroups())
    const found = groups.get(g)
    check(found, `group ${g} not listed among ${[...groups.keys()]}`)
    check(found.protocolType === 'consumer', `listed as ${JSON.stringify(found)}`)
    check(String(found.state).toUpperCase() === 'STABLE', `listed state ${found.state}`)
  } finally {
    await m.close()
  }
}

async function describeGroups (bootstrap) {
  const { t, g, m } = await stableGroup(bootstrap, 'describegroups')
  try {
    await withAdmin(bootstrap, async (a) => {
      const d = (await a.describeGroups({ groups: [g] })).get(g)
      check(d, 'group not described')
      check(String(d.state).toUpperCase() === 'STABLE', `state ${d.state}`)
      check(d.protocolType === 'consumer' && d.protocol, `protocol ${d.protocolType}/${d.protocol}`)
      check(d.members.size === 1, `${d.members.size} members`)
      const [member] = [...d.members.values()]
      const parts = member.assignments?.get(t)?.partitions ?? []
      check(parts.length === PARTITIONS, `member assignment ${JSON.stringify([...(member.assignments ?? new Map())])}`)
      const offs = await a.listConsumerGroupOffsets({ groups: [g] })
      const topic = offs[0]?.topics?.find((x) => x.name === t)
      const sum = (topic?.partitions ?? []).reduce((s, p) => s + Number(p.committedOffset), 0)
      check(sum === 24, `committed offsets ${JSON.stringify(offs, (_, v) => typeof v === 'bigint' ? String(v) : v)}`)
    })
  } finally {
    await m.close()
  }
}

async function listOffsets (bootstrap) {
  const t = topicName(CLIENT, 'offsets')
  await create(bootstrap, t, 1)
  const base = BigInt(Date.now() - 60000)
  const p = new Producer({ ...BASE, bootstrapBrokers: brokers(bootstrap), serializers: stringSerializers })
  try {
    await p.send({
      acks: ProduceAcks.ALL,
      messages: Array.from({ length: 10 }, (_, i) => ({ topic: t, partition: 0, key: 'k', value: String(i), timestamp: base + BigInt(i * 1000) }))
    })
  } finally {
    await p.close()
  }
  await withAdmin(bootstrap, async (a) => {
    const one = async (ts) => {
      const [res] = await a.listOffsets({ topics: [{ name: t, partitions: [{ partitionIndex: 0, timestamp: ts }] }] })
      return Number(res.partitions[0].offset)
    }
    check(await one(ListOffsetTimestamps.EARLIEST) === 0, `earliest ${await one(ListOffsetTimestamps.EARLIEST)}`)
    check(await one(ListOffsetTimestamps.LATEST) === 10, `latest ${await one(ListOffsetTimestamps.LATEST)}`)
    check(await one(base + 3500n) === 4, `by timestamp: ${await one(base + 3500n)}, expected 4`)
    check(await one(base + 99000n) === -1, `a timestamp after the last message: ${await one(base + 99000n)}`)
    check(await one(-3n) === 9, `max timestamp (-3): ${await one(-3n)}, expected 9`)
  })
}

async function idempotentProducer (bootstrap) {
  const t = topicName(CLIENT, 'idempotent')
  await create(bootstrap, t)
  await produce(bootstrap, t, { producerOptions: { idempotent: true } })
  verifyConsumed(await readAll(bootstrap, t, messages().length))
}

async function transactions (bootstrap) {
  const t = topicName(CLIENT, 'txn')
  await create(bootstrap, t)
  const p = new Producer({
    ...BASE, bootstrapBrokers: brokers(bootstrap), serializers: stringSerializers, idempotent: true,
    transactionalId: topicName(CLIENT, 'txid')
  })
  try {
    for (const [name, commit] of [['A', true], ['B', false], ['C', true]]) {
      const tx = await p.beginTransaction()
      const msgs = []
      for (let i = 0; i < 10; i++) for (const k of KEYS.slice(0, 3)) msgs.push({ topic: t, key: k, value: `${k}:${name}${i}` })
      await tx.send({ acks: ProduceAcks.ALL, messages: msgs })
      if (commit) await tx.commit(); else await tx.abort()
    }
  } finally {
    await p.close()
  }
  const committed = await readAll(bootstrap, t, 60, { isolationLevel: FetchIsolationLevels.READ_COMMITTED })
  const values = committed.map((r) => r[1])
  const aborted = values.filter((v) => v.includes(':B')).length
  check(values.length === 60 && aborted === 0, `read_committed saw ${values.length} messages (${aborted} aborted), expected 60`)
  for (const k of KEYS.slice(0, 3)) {
    const seq = committed.filter((r) => r[0] === k).map((r) => r[1].split(':')[1]).join(',')
    const want = [...Array(10).keys()].map((i) => `A${i}`).concat([...Array(10).keys()].map((i) => `C${i}`)).join(',')
    check(seq === want, `key ${k} order ${seq}`)
  }
  const everything = await readAll(bootstrap, t, 90, { isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED })
  check(everything.length === 90, `read_uncommitted saw ${everything.length} messages, expected 90`)
}

function compression (codec) {
  return async (bootstrap) => {
    if (codec === 'zstd' && typeof zlib.zstdCompressSync !== 'function') {
      throw new NotApplicable(`@platformatic/kafka compresses zstd with node:zlib, which Node.js ${process.version} lacks (22.15+)`)
    }
    const t = topicName(CLIENT, codec)
    await create(bootstrap, t)
    await produce(bootstrap, t, { sendOptions: { compression: codec } })
    verifyConsumed(await readAll(bootstrap, t, messages().length))
  }
}

async function deleteTopic (bootstrap) {
  const t = topicName(CLIENT, 'delete')
  await create(bootstrap, t)
  await produce(bootstrap, t, { items: messages().slice(0, 8) })
  await withAdmin(bootstrap, async (a) => {
    await a.deleteTopics({ topics: [t] })
    check(await waitFor(async () => !(await a.listTopics()).includes(t), 10), 'topic still listed 10 s after deletion')
    try {
      await a.deleteTopics({ topics: [t] })
    } catch (e) {
      const text = JSON.stringify(e.errors?.map((x) => x.message) ?? []) + e.message
      check(/UNKNOWN_TOPIC|does not host|unknown topic/i.test(text) || e.errors?.length, `second delete: ${text}`)
      return
    }
    throw new Failure('deleting a deleted topic succeeded')
  })
}

main('@platformatic/kafka', VERSION, {
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
  compression_gzip: compression('gzip'),
  compression_snappy: compression('snappy'),
  compression_lz4: compression('lz4'),
  compression_zstd: compression('zstd'),
  delete_topic: deleteTopic
})
