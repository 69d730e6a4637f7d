// The scenario harness shared by the Node.js runners (no kbroker code): the same contract as
// compat/clients/_harness.py. `--bootstrap HOST:PORT[,HOST:PORT...] [--scenarios a,b] [--timeout S] [--timeouts name=S,...]`;
// prints one JSON line with the client and its version, then one per scenario:
// {"scenario", "status": "pass"|"fail"|"n/a", "error", "seconds"}. Each scenario races its own time limit, so a
// hung client call becomes `fail: timeout after N s` and the next scenario still runs.
import { randomBytes } from 'node:crypto'

export const SCENARIOS = [
  'metadata', 'create_topic', 'produce_acks_all', 'consume_group', 'commit_resume', 'group_rebalance',
  'list_groups', 'describe_groups', 'list_offsets', 'idempotent_producer', 'transactions',
  'compression_gzip', 'compression_snappy', 'compression_lz4', 'compression_zstd', 'delete_topic'
]
const LONG = { group_rebalance: 120, commit_resume: 90, transactions: 90 }

export const PARTITIONS = 3
export const KEYS = Array.from({ length: 8 }, (_, i) => `key-${i}`)
export const PER_KEY = 25

/** The bootstrap's addresses: one for a single broker, every broker's for a cluster (the metadata scenario
 * expects that many brokers, each advertised at one of them). */
export function addresses (bootstrap) {
  return bootstrap.split(',').map((a) => a.trim()).filter((a) => a)
}

/** Topics the scenarios create are replicated on every broker of the cluster (up to 3). */
export function replicationFactor (bootstrap) {
  return Math.min(3, addresses(bootstrap).length)
}

export class NotApplicable extends Error {}
export class Failure extends Error {}

export function check (cond, message) {
  if (!cond) throw new Failure(message)
}

export function na (reason) {
  return async () => { throw new NotApplicable(reason) }
}

export function topicName (client, scenario) {
  return `compat-${client}-${scenario}-${randomBytes(4).toString('hex')}`.replaceAll('_', '-')
}

export function groupName (client, scenario) {
  return `${topicName(client, scenario)}-group`
}

/** [key, value] pairs, interleaved across keys so per-key order means something. */
export function messages () {
  const out = []
  for (let seq = 0; seq < PER_KEY; seq++) for (const k of KEYS) out.push([k, `${k}:${seq}`])
  return out
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export async function waitFor (cond, seconds, step = 100) {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    if (await cond()) return true
    await sleep(step)
  }
  return Boolean(await cond())
}

/** consumed: [key, value, partition] in arrival order; checks count, values, per-key order, one partition per key
 * (and the partition the producer reported, when known). */
export function verifyConsumed (consumed, producedPartition = null, expected = null) {
  expected = expected ?? messages()
  check(consumed.length === expected.length, `consumed ${consumed.length} messages, expected ${expected.length}`)
  const a = consumed.map((x) => x[1]).sort()
  const b = expected.map((x) => x[1]).sort()
  check(a.every((v, i) => v === b[i]), 'consumed values differ from the produced ones')
  const perKey = new Map()
  const partOf = new Map()
  for (const [k, v, p] of consumed) {
    check(v.startsWith(k + ':'), `value ${v} arrived with key ${k}`)
    if (!perKey.has(k)) { perKey.set(k, []); partOf.set(k, new Set()) }
    perKey.get(k).push(Number(v.split(':')[1]))
    partOf.get(k).add(p)
  }
  for (const [k, seqs] of perKey) {
    check(seqs.every((s, i) => i === 0 || seqs[i - 1] < s), `key ${k}: out of order ${seqs.slice(0, 10)}...`)
    check(partOf.get(k).size === 1, `key ${k} found in partitions ${[...partOf.get(k)]}`)
    if (producedPartition) {
      check(partOf.get(k).has(producedPartition[k]),
        `key ${k} consumed from partition ${[...partOf.get(k)]}, delivered to ${producedPartition[k]}`)
    }
  }
}

/** An error with what it wraps: causes and nested errors (distinct messages only), as the client put them. */
function describe (e, depth = 0) {
  if (e === null || typeof e !== 'object') return String(e)
  let text = `${depth === 0 ? (e.name ?? 'Error') + ': ' : ''}${e.message ?? ''}`
  for (const code of [e.type, e.apiId]) if (typeof code === 'string' && !text.includes(code)) text += ` [${code}]`
  if (depth < 4 && Array.isArray(e.errors) && e.errors.length) {
    const inner = [...new Set(e.errors.map((x) => describe(x, depth + 1)))]
    text += ` <- ${inner.slice(0, 3).join(' | ')}`
  }
  if (depth < 4 && e.cause) text += ` (cause: ${describe(e.cause, depth + 1)})`
  return text
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function parseArgs () {
  const args = { scenarios: 'all', timeout: 60, timeouts: '' }
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '')
    args[key] = argv[++i]
  }
  if (!args.bootstrap) throw new Error('--bootstrap HOST:PORT is required')
  return args
}

export async function main (client, version, scenarios) {
  // a stray rejection or exception from a client's background work must not end the runner
  process.on('unhandledRejection', (e) => console.error('unhandled rejection:', e))
  process.on('uncaughtException', (e) => console.error('uncaught exception:', e))
  const args = parseArgs()
  const limits = { ...LONG }
  for (const item of args.timeouts.split(',').filter(Boolean)) {
    const [k, v] = item.split('=')
    limits[k] = Number(v)
  }
  const wanted = args.scenarios === 'all' ? SCENARIOS : args.scenarios.split(',').filter(Boolean)
  emit({ client, version })
  for (const name of wanted) {
    const fn = scenarios[name]
    const started = Date.now()
    if (!fn) {
      emit({ scenario: name, status: 'n/a', error: `${client} has no runner code for this scenario`, seconds: 0 })
      continue
    }
    const limit = limits[name] ?? Number(args.timeout)
    let timer
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ status: 'fail', error: `timeout after ${limit} s` }), limit * 1000)
    })
    const run = (async () => {
      try {
        await fn(args.bootstrap)
        return { status: 'pass', error: null }
      } catch (e) {
        if (e instanceof NotApplicable) return { status: 'n/a', error: e.message }
        if (e instanceof Failure) return { status: 'fail', error: e.message }
        const where = (e?.stack ?? '').split('\n').find((l) => l.includes('_runner.js'))?.trim() ?? ''
        return { status: 'fail', error: `${describe(e)} ${where}`.trim().slice(0, 1500) }
      }
    })()
    const result = await Promise.race([run, timeout])
    clearTimeout(timer)
    emit({ scenario: name, ...result, seconds: Math.round((Date.now() - started) / 10) / 100 })
  }
  // do not wait for a hung client's sockets and timers
  process.stdout.write('', () => process.exit(0))
}
