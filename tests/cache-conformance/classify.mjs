// Reads results of the HTTP caching test suite (the JSON its cli.mjs
// prints) and judges them with the suite's own classifier, so the verdicts
// match what cache-tests.fyi would show.
//
//   node classify.mjs [--min-passes=N] [--required-suites=a,b] NAME=FILE [NAME=FILE ...]
//
// The first NAME=FILE is the cache under test: its non-passes are listed
// and the rules apply to it. Every further one is a yardstick: its counts
// are printed, and the tests it passes that the first fails are listed.
// Exits 1 when a rule is broken, 2 on bad input.

import { readFileSync } from 'node:fs'
import tests from './node_modules/http-cache-tests/tests/index.mjs'
import surrogate from './node_modules/http-cache-tests/tests/surrogate-control.mjs'
import { determineTestResult } from './node_modules/http-cache-tests/lib/display.mjs'

// cli.mjs runs these too, on top of the index.
tests.push(surrogate)

// The suite's own notion of success (lib/display.mjs, passTypes): a
// required or optimal test that passed, or a check test answered "yes".
const PASS_TYPES = new Set(['pass', 'yes'])
// lib/display.mjs returns [icon, colour, text] and does not export the
// names; its FontAwesome icon codes tell the types apart unambiguously.
const TYPE_NAMES = new Map([
  ['-', 'untested'],
  ['\uf058', 'pass'],
  ['\uf057', 'fail'],
  ['\uf05a', 'optional_fail'],
  ['\uf055', 'yes'],
  ['\uf056', 'no'],
  ['\uf059', 'setup_fail'],
  ['\uf06a', 'harness_fail'],
  ['\uf192', 'dependency_fail'],
  ['\uf01e', 'retry']
])
const TYPE_ORDER = [...TYPE_NAMES.values()]

function usage (message) {
  console.error(`classify.mjs: ${message}`)
  console.error('usage: node classify.mjs [--min-passes=N] [--required-suites=a,b] NAME=FILE [NAME=FILE ...]')
  process.exit(2)
}

let minPasses = 0
let requiredSuites = []
const inputs = []
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--min-passes=')) {
    minPasses = Number(arg.slice('--min-passes='.length))
    if (!Number.isInteger(minPasses) || minPasses < 0) usage(`bad ${arg}`)
  } else if (arg.startsWith('--required-suites=')) {
    requiredSuites = arg.slice('--required-suites='.length).split(',').filter(s => s !== '')
  } else if (/^[^=]+=/.test(arg)) {
    const at = arg.indexOf('=')
    inputs.push({ name: arg.slice(0, at), file: arg.slice(at + 1) })
  } else {
    usage(`unexpected argument ${arg}`)
  }
}
if (inputs.length === 0) usage('no results given')

const suiteIds = new Set(tests.map(s => s.id))
for (const id of requiredSuites) {
  if (!suiteIds.has(id)) usage(`no suite with id ${id}; ids: ${[...suiteIds].join(', ')}`)
}

// The tests a command-line run executes: client/runner.mjs skips the
// browser-only ones when not driving a browser cache.
const planned = []
for (const suite of tests) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue
    planned.push({ suite: suite.id, test })
  }
}

function judge ({ name, file }) {
  let results
  try {
    results = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    usage(`${name}: cannot read results ${file}: ${e.message}`)
  }
  const verdicts = new Map()
  const counts = Object.fromEntries(TYPE_ORDER.map(t => [t, 0]))
  let passed = 0
  for (const { suite, test } of planned) {
    // Dependencies honoured, as the suite's web pages do.
    const symbol = determineTestResult(tests, test.id, results, true)[0]
    const type = TYPE_NAMES.get(symbol)
    if (type === undefined) throw new Error(`unknown result symbol ${symbol} for ${test.id}`)
    counts[type]++
    if (PASS_TYPES.has(type)) passed++
    const raw = results[test.id]
    verdicts.set(test.id, {
      suite,
      test,
      type,
      detail: Array.isArray(raw) ? raw[1] : ''
    })
  }
  return { name, verdicts, counts, passed }
}

const judged = inputs.map(judge)
const [subject, ...yardsticks] = judged

for (const j of judged) {
  const parts = TYPE_ORDER.filter(t => j.counts[t] > 0).map(t => `${t} ${j.counts[t]}`)
  console.log(`${j.name}: ${parts.join(', ')}`)
}

const kindOf = test => test.kind || 'required'
console.log('')
console.log(`${subject.name}: tests that did not pass (id | suite | kind | result | name | detail)`)
for (const v of subject.verdicts.values()) {
  if (PASS_TYPES.has(v.type)) continue
  console.log(`  ${v.test.id} | ${v.suite} | ${kindOf(v.test)} | ${v.type} | ${v.test.name} | ${v.detail || ''}`)
}

for (const y of yardsticks) {
  console.log('')
  console.log(`passed by ${y.name}, not by ${subject.name} (id | suite | kind | ${subject.name} result | name)`)
  for (const [id, v] of subject.verdicts) {
    if (PASS_TYPES.has(v.type) || !PASS_TYPES.has(y.verdicts.get(id).type)) continue
    console.log(`  ${id} | ${v.suite} | ${kindOf(v.test)} | ${v.type} | ${v.test.name}`)
  }
}

console.log('')
console.log(judged.map(j => `${j.name}: ${j.passed} passed of ${planned.length}`).join('; '))

const broken = []
if (subject.passed < minPasses) {
  broken.push(`${subject.name} passed ${subject.passed} tests, fewer than the minimum of ${minPasses} (MIN_PASSES)`)
}
// A required test that was not seen to pass (failed, or not judged
// because setup or a dependency failed) leaves the behaviour unverified.
const requiredMisses = [...subject.verdicts.values()].filter(v =>
  requiredSuites.includes(v.suite) && kindOf(v.test) === 'required' && v.type !== 'pass')
if (requiredMisses.length > 0) {
  broken.push(`${subject.name} did not pass ${requiredMisses.length} required test(s) of the suites ${requiredSuites.join(', ')}: ` +
    requiredMisses.map(v => `${v.test.id} (${v.type})`).join(', '))
}
for (const b of broken) console.log(`RULE BROKEN: ${b}`)
process.exit(broken.length > 0 ? 1 : 0)
